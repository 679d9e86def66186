"""RFM scores and segments."""

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from crmcli.analytics import rfm

README = Path(__file__).resolve().parents[2] / "README.md"

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


def readme_segment_table() -> list[tuple[str, range, range]]:
    """README's RFM table ("How the reports work"): (segment, R scores, FM scores) per row."""
    text = README.read_text(encoding="utf-8")
    table = text.split("| segment | R score | FM score")[1].split("\n\n")[0]
    rows = []
    for line in table.splitlines()[2:]:
        name, r, fm = (cell.strip() for cell in line.strip("|").split("|")[:3])

        def scores(cell):
            low, _, high = cell.partition("-")
            return range(int(low), int(high or low) + 1)

        rows.append((name, scores(r), scores(fm)))
    return rows


def test_readme_table_is_the_segment_rule_for_all_125_score_combinations():
    """What README promises, read from README itself, against rfm.segment: a change to the rules
    that README does not show (or the other way round) fails here."""
    table = readme_segment_table()
    assert [name for name, _, _ in table] == NAMES
    for r, f, m in itertools.product(range(1, 6), repeat=3):
        fm = int(np.floor((f + m) / 2 + 0.5))  # README: the average of F and M, rounded half up
        matching = [name for name, r_scores, fm_scores in table if r in r_scores and fm in fm_scores]
        assert len(matching) == 1, ("README's table", r, f, m, matching)
        assert rfm.segment([r], [f], [m]) == matching, (r, f, m)


def test_readme_table_parses_as_written():
    table = {name: (list(r), list(fm)) for name, r, fm in readme_segment_table()}
    assert table["Champions"] == ([5], [4, 5]) and table["Potential loyalist"] == ([4, 5], [2, 3])
    assert re.search(r"\| Lost \| 1 \| 1-2 \|", README.read_text(encoding="utf-8"))


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
    for a, b, c in zip(first, again, shuffled, strict=True):
        assert a.tolist() == b.tolist()
        assert a[order].tolist() == c.tolist()


def test_missing_values_score_lowest():
    assert rfm.quintile_scores([np.nan, 1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4, 5]).tolist() == [1, 2, 3, 4, 5]
