"""RFM scores and segments."""

import itertools

import numpy as np
import pytest

from crmcli.analytics import rfm

NAMES = ["Champions", "Loyal", "Potential loyalist", "New", "Promising", "Need attention", "About to sleep",
         "At risk", "Can't lose them", "Hibernating", "Lost"]


def test_segment_names_are_the_published_set():
    assert list(rfm.SEGMENT_NAMES) == NAMES


def test_every_score_combination_has_exactly_one_segment():
    seen = set()
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        fm = (f + m + 1) // 2
        matching = [name for name, (r_lo, r_hi), (fm_lo, fm_hi) in rfm.SEGMENT_RULES
                    if r_lo <= r <= r_hi and fm_lo <= fm <= fm_hi]
        assert len(matching) == 1, (r, f, m, matching)
        assert rfm.segment([r], [f], [m]) == matching
        seen.add(matching[0])
    assert seen == set(NAMES)


@pytest.mark.parametrize("scores, name", [
    ((5, 5, 5), "Champions"), ((1, 1, 1), "Lost"), ((2, 1, 2), "Hibernating"), ((1, 5, 5), "Can't lose them"),
    ((5, 1, 1), "New"), ((4, 1, 1), "Promising"), ((3, 3, 3), "Need attention"), ((4, 5, 4), "Loyal"),
    ((5, 2, 3), "Potential loyalist"), ((3, 1, 2), "About to sleep"), ((2, 4, 3), "At risk"),
])
def test_segment_examples(scores, name):
    assert rfm.segment(*[[s] for s in scores]) == [name]


def test_fm_rounds_half_up():
    assert rfm.fm_score([1, 1, 4, 2], [2, 1, 5, 2]).tolist() == [2, 1, 5, 2]


def test_segment_rejects_out_of_range_scores():
    with pytest.raises(ValueError):
        rfm.segment([0], [3], [3])
    with pytest.raises(ValueError):
        rfm.segment([3], [6], [3])


def test_scores_point_the_right_way():
    recency = [1, 10, 100, 200, 400]
    frequency = [9, 5, 3, 2, 1]
    money = [500.0, 300.0, 100.0, 50.0, 10.0]
    r, f, m = rfm.scores(recency, frequency, money, [1, 2, 3, 4, 5])
    assert r.tolist() == f.tolist() == m.tolist() == [5, 4, 3, 2, 1]


def test_quintiles_and_small_bases():
    assert np.bincount(rfm.quintile_scores(np.arange(10.0), np.arange(10)))[1:].tolist() == [2] * 5
    assert rfm.quintile_scores([7.0], [1]).tolist() == [3]
    assert rfm.quintile_scores([1.0, 2.0], [1, 2]).tolist() == [2, 4]
    assert rfm.quintile_scores([1.0, 2.0, 3.0], [1, 2, 3]).tolist() == [1, 3, 5]
    assert rfm.quintile_scores([], []).tolist() == []


def test_ties_broken_by_customer_id():
    # All equal: the smaller id ranks higher, whatever the input order.
    ids = np.array([3, 1, 2, 5, 4])
    assert rfm.quintile_scores(np.ones(5), ids).tolist() == [3, 5, 4, 1, 2]
    # Text ids work the same way.
    assert rfm.quintile_scores(np.ones(3), ["b", "a", "c"]).tolist() == [3, 5, 1]


def test_scores_are_deterministic_and_do_not_depend_on_row_order():
    rng = np.random.default_rng(11)
    n = 500
    ids = rng.permutation(n) + 1000
    recency = rng.integers(0, 50, n)  # many ties
    frequency = rng.integers(1, 4, n)
    money = np.round(rng.gamma(2.0, 20.0, n), 0)
    first = rfm.scores(recency, frequency, money, ids)
    again = rfm.scores(recency, frequency, money, ids)
    order = rng.permutation(n)
    shuffled = rfm.scores(recency[order], frequency[order], money[order], ids[order])
    for a, b, c in zip(first, again, shuffled):
        assert a.tolist() == b.tolist()
        assert a[order].tolist() == c.tolist()


def test_missing_values_score_lowest():
    assert rfm.quintile_scores([np.nan, 1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4, 5]).tolist() == [1, 2, 3, 4, 5]
