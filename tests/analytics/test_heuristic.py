"""The no-model fallback: thresholds, gaps, and its two formulas."""

import math

import numpy as np
import pytest

from crmcli.analytics import heuristic


def test_can_fit_needs_enough_repeat_buyers_and_share():
    assert heuristic.MIN_REPEAT_CUSTOMERS == 20
    assert not heuristic.can_fit([1] * 19 + [0] * 81)
    assert heuristic.can_fit([1] * 20 + [0] * 80)
    assert not heuristic.can_fit([1] * 25 + [0] * 275)  # 25 repeat buyers, but under 10%
    assert not heuristic.can_fit([])
    assert heuristic.MIN_CUSTOMERS == 100
    assert not heuristic.can_fit([1] * 99)  # every buyer came back, but 99 buyers are too few
    assert heuristic.can_fit([1] * 100)


def test_usual_gap():
    gap = heuristic.usual_gap([4, 2, 1, 0], [100, 10, 60, 0])
    assert gap.tolist() == [25.0, 5.0, 60.0, 25.0]  # the one-time buyer gets the median, 25
    assert heuristic.usual_gap([0, 0], [0, 0]).tolist() == [heuristic.DEFAULT_GAP_DAYS] * 2
    assert heuristic.usual_gap([5], [2]).tolist() == [heuristic.MIN_GAP_DAYS]  # never below a day


def test_p_alive():
    # Usual gap 25 days: just bought -> 1; silent one gap -> e^-1; silent longer -> less.
    alive = heuristic.p_alive([4, 4, 4], [100, 100, 100], [100, 125, 300])
    np.testing.assert_allclose(alive, [1.0, math.exp(-1), math.exp(-8)], rtol=1e-15)


def test_expected_purchases_follow_the_usual_rhythm():
    x, t_x, T = [4, 0], [100, 0], [110, 30]
    alive = heuristic.p_alive(x, t_x, T)
    np.testing.assert_allclose(heuristic.expected_purchases(365, x, t_x, T), alive * 365 / 25.0)
    np.testing.assert_allclose(heuristic.expected_purchases(730, x, t_x, T),
                               2 * heuristic.expected_purchases(365, x, t_x, T))


def test_rejects_impossible_histories():
    with pytest.raises(ValueError):
        heuristic.p_alive([2], [50], [40])
