"""`crm agenda`: today's follow-ups, open complaints and best customers gone quiet, checked by hand.

The shop, on 2024-06-15 (16 buying customers, so the best 20% are the top 4 by revenue):

  customer  purchase days (each)                          revenue  staff  quiet?
  P         03-01 .. 04-20 every 10 days, 6 days (500)    3000.00  Joy    silent 56 > 2 x 10: yes
  R         02-01 once (2000)                             2000.00  -      one purchase day: no usual gap
  O         05-01 .. 05-22 every 7 days, 4 days (400)     1600.00  Sam    silent 24 > 2 x 7 and >= 14: yes
  Q         01-15 .. 05-14 every 30 days, 5 days (300)    1500.00  Sam    silent 32 <= 2 x 30: no
  W         01-05, 01-25, 02-14 (50)                       150.00  -      quiet, but not among the best
  S1..S11   one purchase of 10.00 on 06-01
"""

import csv
import io
from datetime import date, datetime, timedelta

import pytest
from helpers import freeze

from crmcli import customers, db, feedback, followups, interactions
from crmcli.reports import agenda

# The same tests on an SQLite file and on a PostgreSQL server (tests/conftest.py).
pytestmark = pytest.mark.both_backends

NOW = datetime(2024, 6, 15, 12, 0, 0)


def every(first: str, gap: int, count: int) -> list[str]:
    start = date.fromisoformat(first)
    return [(start + timedelta(days=gap * n)).isoformat() for n in range(count)]


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        ids = {}
        for name, days, amount, by in [
            ("P", every("2024-03-01", 10, 6), "500.00", "Joy"), ("R", ["2024-02-01"], "2000.00", None),
            ("O", every("2024-05-01", 7, 4), "400.00", "Sam"), ("Q", every("2024-01-15", 30, 5), "300.00", "Sam"),
            ("W", every("2024-01-05", 20, 3), "50.00", None),
            *((f"S{n}", ["2024-06-01"], "10.00", None) for n in range(1, 12)),
        ]:
            ids[name] = customers.add(conn, f"Customer {name}", phone=f"0917 555 {len(ids):04d}")
            for day in days:
                interactions.add(conn, ids[name], "purchase", at=f"{day}T10:00:00", amount=amount, by=by)
        feedback.add(conn, ids["S1"], "complaint", category="delivery", note="late", rating=2, by="Sam",
                     at="2024-06-01T10:00:00")
        feedback.add(conn, ids["S2"], "complaint", category="quality", note="cold coffee", at="2024-05-20T09:00:00")
        feedback.add(conn, ids["S3"], "complaint", note="resolved one", at="2024-05-01T09:00:00",
                     resolved_at="2024-05-02T09:00:00")
        followups.add(conn, ids["Q"], "2024-06-10", by="Joy", note="ask about the wholesale order", allow_past=True)
        followups.add(conn, ids["S4"], "today", by="joy", note="welcome call")
        followups.add(conn, ids["S5"], "tomorrow", by="Sam", note="not yet")
        followups.add(conn, ids["S6"], "2024-06-14", by="Sam", note="done", allow_past=True,
                      created_at="2024-06-01T10:00:00", done_at="2024-06-14T10:00:00")
        # Done before O's last purchase: does not count as someone being on it now.
        followups.add(conn, ids["O"], "2024-05-02", by="Sam", allow_past=True, created_at="2024-05-01T12:00:00",
                      done_at="2024-05-02T12:00:00")
    return ids


def rows_of(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return list(csv.DictReader(io.StringIO(result.stdout)))


def brief(rows):
    return [(r["section"], r["name"], r["by"], r["date"], r["days"]) for r in rows]


def test_agenda_by_hand(shop, crm):
    result = crm("agenda", "--format", "csv")
    assert result.stdout.splitlines()[0] == ",".join(agenda.AGENDA_COLUMNS)
    rows = rows_of(result)
    assert brief(rows) == [
        ("followup", "Customer Q", "Joy", "2024-06-10", "5"),
        ("followup", "Customer S4", "joy", "2024-06-15", "0"),
        ("complaint", "Customer S2", "", "2024-05-20", "26"),
        ("complaint", "Customer S1", "Sam", "2024-06-01", "14"),
        ("quiet", "Customer P", "Joy", "2024-04-20", "56"),
        ("quiet", "Customer O", "Sam", "2024-05-22", "24"),
    ]
    details = [r["detail"] for r in rows]
    assert details[:4] == ["ask about the wholesale order", "welcome call", "quality: cold coffee",
                           "delivery: late (rated 2)"]
    assert details[4] == ("usually buys every 10 days (6 purchase days); silent for 56 days (5.6x the usual gap); "
                          "spent 3000.00 in all")
    assert details[5] == ("usually buys every 7 days (4 purchase days); silent for 24 days (3.4x the usual gap); "
                          "spent 1600.00 in all")
    assert rows[0]["phone"] == "0917 555 0003" and rows[4]["id"] == ""


@pytest.mark.parametrize("by, expected", [
    ("JOY", [("followup", "Customer Q"), ("followup", "Customer S4"), ("quiet", "Customer P")]),
    ("sam", [("complaint", "Customer S1"), ("quiet", "Customer O")]),
    ("Linh", []),
])
def test_agenda_by_staff(shop, crm, by, expected):
    assert [(r["section"], r["name"]) for r in rows_of(crm("agenda", "--by", by, "--format", "csv"))] == expected


def test_limit_of_quiet_customers(shop, crm):
    rows = rows_of(crm("agenda", "--limit", "1", "--format", "csv"))
    assert [r["name"] for r in rows if r["section"] == "quiet"] == ["Customer P"]


def test_someone_already_on_it_is_not_listed_as_quiet(shop, crm, conn):
    with db.transaction(conn):
        followups.add(conn, shop["P"], "2024-06-20", by="Joy", note="planned")
    assert [r["name"] for r in rows_of(crm("agenda", "--format", "csv")) if r["section"] == "quiet"] == ["Customer O"]
    with db.transaction(conn):
        followups.done(conn, 6)  # done, but made after P's last purchase: still on it
    assert [r["name"] for r in rows_of(crm("agenda", "--format", "csv")) if r["section"] == "quiet"] == ["Customer O"]


def test_agenda_table_for_a_morning_mail(shop, crm):
    result = crm("agenda", "--format", "table")
    assert result.exit_code == 0
    out = result.stdout
    for title in ("Follow-ups due (2), 2024-06-15", "Open complaints (2), 2024-06-15",
                  "Best customers gone quiet (2), 2024-06-15"):
        assert title in out
    assert "days overdue" in out and "days silent" in out and "5.6x the usual gap" in out
    assert all(len(line) < 250 for line in out.splitlines())  # not wrapped at 80, not padded to 100,000 either
    mine = crm("agenda", "--by", "Sam", "--format", "table").stdout
    assert "Open complaints for Sam (1)" in mine and "Follow-ups due" not in mine


def test_an_empty_agenda_prints_nothing(conn, crm, monkeypatch):
    freeze(monkeypatch, NOW)
    result = crm("agenda", "--format", "table")
    assert result.exit_code == 0 and result.stdout == ""
    assert "nothing on the agenda today (2024-06-15)" in result.stderr
    assert rows_of(crm("agenda", "--format", "csv")) == []


def test_agenda_on_the_demo_has_every_section(conn, crm, monkeypatch):
    from crmcli import demo

    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=1)
    rows = rows_of(crm("agenda", "--format", "csv"))
    assert {r["section"] for r in rows} == {"followup", "complaint", "quiet"}
    assert len([r for r in rows if r["section"] == "quiet"]) == 10  # the default limit


def test_purchases_dated_after_today_do_not_count_and_the_summary_path_agrees(shop, conn):
    """The agenda reads customer_summary, which counts every purchase; with purchases dated after
    today (another program's, or a clock set back) it totals those up to today instead."""
    by_summary = agenda.quiet_customers(conn, limit=None)
    assert [q["name"] for q in by_summary] == ["Customer P", "Customer O"]
    # Another program records a purchase for P after today: P is not quiet as of tomorrow's data,
    # but today's agenda must not know of it.
    conn.execute("INSERT INTO interactions (customer_id, type, at, amount_cents, created_at) "
                 "VALUES (?, 'purchase', '2024-07-01T10:00:00', 100, '2024-07-01')", (shop["P"],))
    assert agenda.quiet_customers(conn, limit=None) == by_summary
    # Dated today, it counts: P bought today, so P is not quiet.
    conn.execute("UPDATE interactions SET at = '2024-06-15T09:00:00' WHERE at = '2024-07-01T10:00:00'")
    assert [q["name"] for q in agenda.quiet_customers(conn, limit=None)] == ["Customer O"]


def test_limit_is_taken_in_sql_the_same_rows(shop, conn):
    assert agenda.quiet_customers(conn, limit=1) == agenda.quiet_customers(conn, limit=None)[:1]
