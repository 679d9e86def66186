"""The models' inputs follow the literature's definitions, computed by hand for a small shop."""

from datetime import date

import numpy as np
import pytest
from helpers import freeze

from crmcli import customers, db, feedback, interactions
from crmcli.analytics.data import load


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch)  # 2024-06-15 12:00
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        bob = customers.add(conn, "Bob")
        customers.add(conn, "Cy (never bought)")
        # Ann: 2024-01-01 (10 + 5 on the same day = one transaction of 15), 2024-01-11 (20),
        # 2024-01-31 (40), a refund of 5 (not a transaction), and 2024-06-20 after the as-of date.
        for at, amount in [("2024-01-01T09:00", "10"), ("2024-01-01T17:00", "5"), ("2024-01-11", "20"),
                           ("2024-01-31T23:59:59", "40")]:
            interactions.add(conn, ann, "purchase", at=at, amount=amount)
        interactions.add(conn, ann, "refund", at="2024-02-01", amount="5")
        interactions.add(conn, ann, "call", at="2024-02-02")
        # Bob: one purchase, exactly on the as-of date (it counts).
        interactions.add(conn, bob, "purchase", at="2024-03-01T18:00", amount="99.99")
        feedback.add(conn, bob, "complaint", rating=1, at="2024-02-15")
        feedback.add(conn, bob, "complaint", rating=4, at="2024-02-16", resolved_at="2024-03-05")
    return {"ann": ann, "bob": bob}


def test_definitions_by_hand(conn, shop):
    base = load(conn, date(2024, 3, 1))
    assert list(base.customer_id) == [shop["ann"], shop["bob"]]  # Cy has no purchase
    ann, bob = 0, 1
    assert base.x[ann] == 2  # three purchase days, the first is not a repeat
    assert base.t_x[ann] == 30  # 2024-01-01 -> 2024-01-31
    assert base.T[ann] == 60  # 2024-01-01 -> 2024-03-01
    assert base.m[ann] == pytest.approx(30.0)  # mean of the repeat days: (20 + 40) / 2
    assert base.revenue_cents[ann] == 1500 + 2000 + 4000 - 500
    assert base.purchases[ann] == 3
    assert base.days_since_last_purchase[ann] == 30
    assert base.typical_gap_days[ann] == 15
    assert (base.x[bob], base.t_x[bob], base.T[bob]) == (0, 0, 0)
    assert base.m[bob] == 0 and np.isnan(base.typical_gap_days[bob])
    assert base.open_complaints[bob] == 2  # the second was resolved only on 2024-03-05
    assert base.low_ratings[bob] == 1  # rating 1 counts, rating 4 does not


def test_as_of_uses_only_data_on_or_before_the_date(conn, shop):
    before = load(conn, date(2024, 2, 29))
    assert list(before.customer_id) == [shop["ann"]]  # Bob's purchase is on 2024-03-01
    assert before.revenue_cents[0] == 7000  # the refund of 2024-02-01 is before the date
    early = load(conn, date(2024, 1, 20))
    assert early.x[0] == 1 and early.revenue_cents[0] == 3500  # neither the refund nor the 31st yet
    # Once resolved, a complaint no longer counts.
    assert load(conn, date(2024, 3, 5)).open_complaints[1] == 1
    assert list(load(conn, date(2023, 12, 31)).customer_id) == []


def test_a_day_after_all_the_data_reads_the_summary_and_gets_the_same_rows(conn, shop, monkeypatch):
    """Nothing dated after the day: load reads customer_summary (one row a customer), the same rows as
    the aggregate over the purchases; a purchase after the day sends it back to the purchases."""
    from crmcli.analytics import data

    late = date(2024, 12, 31)  # after Bob's purchase of 2024-03-01, the last of the data
    aggregated = data._load(conn, late, data._BASE_SQL, {})
    monkeypatch.setattr(data, "_BASE_SQL", "SELECT the purchases were read")  # would fail if used
    from_summary = load(conn, late)
    for name in vars(aggregated):
        np.testing.assert_array_equal(getattr(from_summary, name), getattr(aggregated, name), err_msg=name)
    assert from_summary.m[0] == pytest.approx(30.0)  # (20 + 40) / 2: the first day's 15 left out
    assert len(from_summary) == 2 and from_summary.open_complaints[1] == 1  # feedback read as before
    with pytest.raises(Exception, match="syntax error"):
        load(conn, date(2024, 2, 29))  # Bob bought on 2024-03-01: the summary counts it, so not used


def _assert_same_base(got, expected, day):
    assert got.as_of == expected.as_of == day
    for name in vars(expected):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=f"{name} as of {day}")


def test_load_many_gives_load_s_rows_for_every_day(conn, shop):
    """report summary's one pass over the purchases: for each day, exactly the base load() gives, in the
    order the days were asked (refunds, feedback signals, same-day purchases, a day before any data)."""
    from crmcli.analytics.data import load_many

    days = [date(2024, 12, 31), date(2024, 1, 1), date(2024, 3, 1), date(2023, 12, 31), date(2024, 1, 20),
            date(2024, 2, 29), date(2024, 3, 5), date(2024, 2, 1)]
    bases = list(load_many(conn, days))
    assert len(bases) == len(days)
    for day, base in zip(days, bases, strict=True):
        _assert_same_base(base, load(conn, day), day)
    assert list(load_many(conn, [])) == []


@pytest.mark.parametrize("seed", [2, 9])
def test_load_many_on_the_demo_with_refunds_and_feedback(conn, monkeypatch, seed):
    from crmcli import demo
    from crmcli.analytics.data import load_many

    freeze(monkeypatch)
    with db.transaction(conn):
        demo.fill(conn, count=120, seed=seed)
        # Refunds, feedback and a purchase without amount, by another program's hand.
        conn.execute("UPDATE interactions SET type = 'refund' WHERE id % 17 = 0 AND type = 'purchase'")
        conn.execute("UPDATE interactions SET amount_cents = NULL WHERE id % 29 = 0 AND type = 'purchase'")
    assert conn.execute("SELECT count(*) FROM interactions WHERE type = 'refund'").fetchone()[0] > 0
    assert conn.execute("SELECT count(*) FROM feedback WHERE rating <= 2").fetchone()[0] > 0
    days = [date(2024, m, 28) for m in range(6, 0, -1)] + [date(2023, 6, 30)]
    for day, base in zip(days, load_many(conn, days), strict=True):
        _assert_same_base(base, load(conn, day), day)
