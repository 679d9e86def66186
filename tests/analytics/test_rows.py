"""The report rows (analytics/rows.py) and their why sentences (analytics/explain.py): a whole column of
sentences is exactly the sentence of each row, and the column chunks carry exactly the rows' values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcli.analytics import explain, rows

ROW = st.fixed_dictionaries({
    "purchases": st.integers(1, 400),
    "typical_gap_days": st.one_of(st.none(), st.just(0.0), st.floats(0.1, 5000).map(lambda v: round(v, 1))),
    "days_since_last_purchase": st.integers(0, 3000),
    "churn_risk": st.floats(0, 1).map(lambda v: round(v, 4)),
    "p_alive": st.floats(0, 1).map(lambda v: round(v, 4)),
    "open_complaints": st.integers(0, 3),
    "low_ratings": st.integers(0, 3),
    "value_if_active": st.decimals(-10**6, 10**7, places=2),
    "revenue": st.decimals(-10**6, 10**7, places=2),
    "model": st.sampled_from(["pareto", "bgnbd", "heuristic"]),
    "expected_purchases": st.floats(0, 300).map(lambda v: round(v, 2)),
    "recency_score": st.integers(1, 5), "frequency_score": st.integers(1, 5), "monetary_score": st.integers(1, 5),
})


@settings(max_examples=200, deadline=None)
@given(st.lists(ROW, max_size=20), st.integers(1, 3650))
def test_a_column_of_sentences_is_each_rows_sentence(many, horizon):
    columns = {key: [row[key] for row in many] for key in ROW_KEYS} if many else {key: [] for key in ROW_KEYS}
    assert explain.why_churn.column(columns) == [explain.why_churn(row) for row in many]
    # The best report's sentence needs a usual gap for a repeat buyer (which always has one).
    many = [row for row in many if row["purchases"] == 1 or row["typical_gap_days"] is not None]
    columns = {key: [row[key] for row in many] for key in ROW_KEYS}
    best = explain.best_sentences(horizon)
    assert best.column(columns) == [best(row) for row in many] == [explain.why_best(row, horizon) for row in many]


ROW_KEYS = ("purchases", "typical_gap_days", "days_since_last_purchase", "churn_risk", "p_alive", "open_complaints",
            "low_ratings", "value_if_active", "revenue", "model", "expected_purchases", "recency_score",
            "frequency_score", "monetary_score")


def test_the_sentences_by_hand():
    row = {"purchases": 3, "typical_gap_days": 20.0, "days_since_last_purchase": 50, "churn_risk": 0.8123,
           "open_complaints": 1, "low_ratings": 2, "value_if_active": Decimal("123.45"), "p_alive": 0.1877,
           "revenue": Decimal("60.00"), "model": "bgnbd", "expected_purchases": 0.5, "recency_score": 2,
           "frequency_score": 3, "monetary_score": 4}
    assert explain.why_churn(row) == ("bought about every 20 days; silent for 50 days (2.5x the usual gap); 81% likely "
                                      "to have left; 1 open complaint; 2 low ratings in the last 365 days; worth about "
                                      "123.45 a year if still active")
    assert explain.why_best(row, 365) == ("buys about every 20 days (3 purchase days); last bought 50 days ago; spent "
                                          "60.00; 19% likely still a customer; about 0.5 purchases expected in 365 "
                                          "days; RFM 234")


def test_money_in_bulk_is_cents_to_amount():
    import numpy as np

    amounts = np.array([0.0, -0.004, 0.005, 1.015, 12345.675, -7.5, 1e14, np.nan, np.inf])
    got = rows._money_list(amounts)
    assert got[:7] == [Decimal(int(c)).scaleb(-2) for c in np.round(amounts[:7] * 100)]
    assert got[7:] == [None, None]
    assert rows._money_list(np.array([2.0 ** 60])) == [Decimal(int(round(2.0 ** 62 * 100 / 4))).scaleb(-2)]


def test_days_in_bulk():
    from datetime import date

    days = [date(2026, 1, 31).toordinal(), date(1999, 12, 31).toordinal(), date(2026, 1, 31).toordinal()]
    import numpy as np

    assert rows._days(np.array(days)) == ["2026-01-31", "1999-12-31", "2026-01-31"]


@pytest.fixture
def scored(conn):
    """A small shop scored as a report scores it."""
    from datetime import date

    from crmcli import customers, db, demo
    from crmcli.analytics import report

    with db.transaction(conn):
        demo.fill(conn, count=300, seed=2, today=date(2026, 1, 1))
    s = report.score(conn, as_of=date(2026, 1, 1), model="bgnbd")
    assert s.model == "bgnbd", s.notes  # a fitted model: every figure of a row is there
    with db.transaction(conn):
        customers.delete(conn, int(s.base.customer_id[3]))  # gone after the scores: no name, no email
    return report, s


def test_the_column_chunks_carry_the_rows_values(conn, scored, monkeypatch):
    report, s = scored
    monkeypatch.setattr(rows, "_CHUNK", 7)
    order = list(range(len(s.base)))[::-1]
    as_dicts = list(rows.rows(conn, s, order, explain.why_churn))
    keys = ["why", "name", "rank", "p_alive", "customer_id", "email", "last_purchase", "value_at_risk"]
    chunks = list(rows.rows(conn, s, order, explain.why_churn).column_chunks(keys))
    assert [len(chunk["rank"]) for chunk in chunks][:2] == [7, 7]
    as_columns = [dict(zip(keys, values, strict=True))
                  for chunk in chunks for values in zip(*(chunk[key] for key in keys), strict=True)]
    assert as_columns == [{key: row[key] for key in keys} for row in as_dicts]
    assert [row["rank"] for row in as_dicts] == list(range(1, len(order) + 1))
    assert list(as_dicts[0]) == list(rows.ROW_KEYS)
    gone = as_dicts[len(order) - 1 - 3]
    assert (gone["customer_id"], gone["name"], gone["email"]) == (s.base.customer_id[3], "", None)
    assert all(row["name"] for row in as_dicts if row is not gone)
    # A sentence that takes a whole row (a plain function) gives the same chunks the slow way.
    plain = list(rows.rows(conn, s, order, lambda row: explain.why_churn(row)).column_chunks(keys))
    assert plain == chunks


def test_rows_are_read_once(conn, scored):
    _, s = scored
    both = rows.rows(conn, s, [0, 1], explain.why_churn)
    next(both)
    with pytest.raises(RuntimeError):
        list(both.column_chunks(["rank", "why"]))
