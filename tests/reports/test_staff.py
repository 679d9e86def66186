"""`crm report staff`: per staff member, computed by hand on the shop of test_summary.py."""

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from helpers import assert_error, freeze, unchanged
from test_summary import NOW, hand_built_shop

from crmcli import db, followups
from crmcli.reports import staff as staff_report

# The same tests on an SQLite file and on a PostgreSQL server (tests/conftest.py).
pytestmark = pytest.mark.both_backends


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    ids = hand_built_shop(conn)
    with db.transaction(conn):
        # Joy's follow-up with D is overdue (due 06-10, open); Sam's with A was done on 06-12.
        followups.add(conn, ids["D"], "2024-06-10", by="Joy", created_at="2024-06-01T09:00:00", allow_past=True)
        followups.add(conn, ids["A"], "2024-06-12", by="Sam", created_at="2024-06-01T09:00:00",
                      done_at="2024-06-12T10:00:00", allow_past=True)
        followups.add(conn, ids["B"], "2024-06-20", by="Marco")  # not due yet: neither done nor overdue
    return conn


def by_staff(rows):
    return {row["staff"]: row for row in rows}


def test_all_history_by_hand(shop):
    rows = staff_report.staff_rows(shop)
    assert [r["staff"] for r in rows] == ["Joy", "Marco", "Sam"]  # nobody for events without staff
    joy, marco, sam = (by_staff(rows)[name] for name in ("Joy", "Marco", "Sam"))
    # Joy: purchases A 03-10, A 04-05, B 04-10; refund A 05-25; call D 06-05.
    assert joy == {
        "staff": "Joy", "interactions": 5, "customers_served": 3, "sales": 3,
        "revenue": Decimal("340.00"),  # 100 + 50 + 200 - 10
        "complaints_handled": 2, "complaints_resolved": 2,  # A's (2.0 days) and B's (3.0 days)
        "median_resolution_days": 2.5, "average_rating": 3.5,  # complaint 2, compliment 5
        "compliments": 1, "followups_done": 0, "followups_overdue": 1,
    }
    # Sam: purchases A 05-20 (two), C 05-02; complaints C (resolved in 1.0 day) and F (open).
    assert sam == {
        "staff": "Sam", "interactions": 3, "customers_served": 2, "sales": 3, "revenue": Decimal("110.00"),
        "complaints_handled": 2, "complaints_resolved": 1, "median_resolution_days": 1.0,
        "average_rating": 2.5,  # C's complaint 1, B's compliment 4
        "compliments": 1, "followups_done": 1, "followups_overdue": 0,
    }
    assert marco == {
        "staff": "Marco", "interactions": 2, "customers_served": 1, "sales": 2, "revenue": Decimal("25.00"),
        "complaints_handled": 0, "complaints_resolved": 0, "median_resolution_days": None,
        "average_rating": None, "compliments": 1, "followups_done": 0, "followups_overdue": 0,
    }


def test_a_date_range(shop):
    may = by_staff(staff_report.staff_rows(shop, since="2024-05-01", until="2024-05-31"))
    assert (may["Joy"]["interactions"], may["Joy"]["sales"], may["Joy"]["revenue"]) == (1, 0, Decimal("-10.00"))
    assert may["Joy"]["complaints_handled"] == 0 and may["Joy"]["average_rating"] is None
    assert may["Joy"]["followups_overdue"] == 1  # as of today, whatever the range
    assert (may["Sam"]["complaints_handled"], may["Sam"]["complaints_resolved"], may["Sam"]["average_rating"]) == (
        1, 1, 2.5)
    assert (may["Marco"]["interactions"], may["Marco"]["compliments"]) == (0, 1)
    # A complaint resolved after --until counts as handled, not as resolved.
    april = by_staff(staff_report.staff_rows(shop, until="2024-04-30"))
    assert (april["Joy"]["complaints_handled"], april["Joy"]["complaints_resolved"],
            april["Joy"]["median_resolution_days"]) == (2, 1, 2.0)
    june = by_staff(staff_report.staff_rows(shop, since="2024-06-01"))
    assert june["Sam"]["followups_done"] == 1 and "Marco" not in june


def test_cli_csv_and_table(shop, crm):
    result = crm("report", "staff", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == ",".join(staff_report.STAFF_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["staff"], r["revenue"], r["median_resolution_days"]) for r in rows] == [
        ("Joy", "340.00", "2.5"), ("Marco", "25.00", ""), ("Sam", "110.00", "1.0")]
    table = crm("report", "staff", "--since", "2024-04-01", "--until", "2024-04-30", "--format", "table")
    assert table.exit_code == 0 and "Staff, 2024-04-01 to 2024-04-30" in table.stdout and "Joy" in table.stdout


def test_errors_leave_the_database_unchanged(shop, crm, isolated_database):
    with unchanged(isolated_database):
        assert_error(crm("report", "staff", "--since", "2024-06-01", "--until", "2024-05-01"), 1, "since",
                     "is after --until")
        assert_error(crm("report", "staff", "--since", "last tuesday"), 1, "since", "last tuesday")


def test_staff_are_alive_on_the_demo(conn, monkeypatch):
    from crmcli import demo

    freeze(monkeypatch, datetime(2024, 6, 15, 12, 0, 0))
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=1)
    rows = staff_report.staff_rows(conn)
    assert len(rows) >= 4
    for column in ("interactions", "customers_served", "complaints_handled", "compliments", "followups_done"):
        assert sum(1 for r in rows if r[column]) >= 2, column
    assert any(r["median_resolution_days"] is not None for r in rows)
    assert any(r["followups_overdue"] for r in rows)
