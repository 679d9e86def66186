"""CLV: months, discounting, and agreement with the models' expectations."""

import numpy as np
import pytest

from crmcli.analytics import bgnbd, clv, heuristic, pareto

BG = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
PNBD = {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}
X = np.array([0.0, 1.0, 4.0, 30.0, 4.0])
T_X = np.array([0.0, 20.0, 300.0, 700.0, 300.0])
T = np.array([10.0, 400.0, 500.0, 720.0, 500.0])
SPEND = np.array([20.0, 35.0, 50.0, 12.0, 50.0])


def test_month_ends():
    assert clv.month_ends(365).tolist() == [30 * k for k in range(1, 13)] + [365]
    assert clv.month_ends(30).tolist() == [30]
    assert clv.month_ends(45).tolist() == [30, 45]


@pytest.mark.parametrize("model, params, module", [("bgnbd", BG, bgnbd), ("pareto", PNBD, pareto)])
def test_without_discount_clv_is_expected_purchases_times_spend(model, params, module):
    value = clv.clv(model, params, X, T_X, T, SPEND, 365)
    expected = module.expected_purchases(params, 365, X, T_X, T) * SPEND
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    monthly = clv.monthly_purchases(model, params, X, T_X, T, 365)
    assert monthly.shape == (13, 5)
    assert np.all(monthly >= 0)
    np.testing.assert_allclose(monthly.sum(axis=0) * SPEND, value, rtol=1e-12)


def test_heuristic_clv():
    value = clv.clv("heuristic", None, X, T_X, T, SPEND, 365)
    np.testing.assert_allclose(value, heuristic.expected_purchases(365, X, T_X, T) * SPEND, rtol=1e-12)


@pytest.mark.parametrize("model, params", [("bgnbd", BG), ("pareto", PNBD)])
def test_discount_is_applied_month_by_month(model, params):
    monthly = clv.monthly_purchases(model, params, X, T_X, T, 100)  # 30, 30, 30, 10 days
    by_hand = sum(monthly[k - 1] * SPEND * 1.1 ** (-k / 12) for k in range(1, 5))
    discounted = clv.clv(model, params, X, T_X, T, SPEND, 100, annual_discount=0.1)
    np.testing.assert_allclose(discounted, by_hand, rtol=1e-12)
    assert np.all(discounted < clv.clv(model, params, X, T_X, T, SPEND, 100))


def test_customer_order_is_kept():
    order = np.array([3, 0, 4, 2, 1])
    plain = clv.clv("pareto", PNBD, X, T_X, T, SPEND, 365)
    shuffled = clv.clv("pareto", PNBD, X[order], T_X[order], T[order], SPEND[order], 365)
    np.testing.assert_allclose(shuffled, plain[order], rtol=1e-15)
    assert plain[2] == plain[4]  # same history, same spend


def test_bad_arguments():
    with pytest.raises(ValueError):
        clv.clv("gamma_gamma", BG, X, T_X, T, SPEND, 365)
    with pytest.raises(ValueError):
        clv.clv("bgnbd", BG, X, T_X, T, SPEND, 0)
    with pytest.raises(ValueError):
        clv.clv("bgnbd", BG, X, T_X, T, SPEND, 365, annual_discount=-1.0)
