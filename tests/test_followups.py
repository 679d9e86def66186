"""`crm followup add|list|done`, `crm report churn --follow-up N`, follow-ups in `customer show` and the demo."""

import csv
import io
import json
from datetime import date, datetime, timedelta

import pytest
from helpers import assert_error, db_dump, freeze, unchanged

from crmcli import customers, db, followups, interactions

NOW = datetime(2024, 6, 15, 12, 0, 0)
TODAY = NOW.date()


@pytest.fixture
def people(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        ids = [customers.add(conn, name, email=email) for name, email in
               [("Ana Reyes", "ana@example.com"), ("Bui Thi Lan", "lan@example.com"), ("Carl Wood", None)]]
    return ids


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def rows_of(result):
    return list(csv.DictReader(io.StringIO(ok(result).stdout)))


def stored(conn):
    return [dict(row) for row in conn.execute("SELECT * FROM followups ORDER BY id")]


@pytest.mark.parametrize("when, due", [
    ("today", TODAY), ("tomorrow", TODAY + timedelta(days=1)), ("+7", TODAY + timedelta(days=7)),
    ("+30d", TODAY + timedelta(days=30)), ("2024-07-01", date(2024, 7, 1)), ("2024-07-01T09:30", date(2024, 7, 1)),
])
def test_add_prints_the_id_and_stores_the_due_day(people, crm, conn, when, due):
    result = ok(crm("followup", "add", "ana@example.com", "--due", when, "--note", "ask about the party",
                    "--by", " Joy "))
    assert result.stdout == "1\n"
    assert stored(conn) == [{"id": 1, "customer_id": people[0], "due": due.isoformat(), "staff": "Joy",
                             "note": "ask about the party", "created_at": "2024-06-15T12:00:00", "done_at": None,
                             "done_note": None}]


@pytest.mark.parametrize("args, fragments", [
    (["Ana", "--due", "yesterday"], ["due", "is in the past", "2024-06-15"]),
    (["Ana", "--due", "2024-06-14"], ["due", "is in the past"]),
    (["Ana", "--due", "next week"], ["due", "not a date", "next week", "+N"]),
    (["Ana", "--due", "2024-02-30"], ["due", "2024-02-30"]),
    (["Ana", "--due", ""], ["due", "is required"]),
    (["Nobody", "--due", "today"], ["customer", "Nobody"]),
    (["Ana", "--due", "today", "--note", "a\x00b"], ["note", "NUL"]),
])
def test_add_errors_change_nothing(people, crm, isolated_database, args, fragments):
    with unchanged(isolated_database):
        assert_error(crm("followup", "add", *args), 1, *fragments)


def test_due_is_required(people, crm):
    result = crm("followup", "add", "Ana")
    assert result.exit_code == 2 and "--due" in result.stderr


@pytest.fixture
def scheduled(people, conn):
    ana, lan, carl = people
    with db.transaction(conn):
        followups.add(conn, ana, "2024-06-10", by="Joy", note="overdue", allow_past=True)       # 1
        followups.add(conn, lan, "today", by="joy", note="due today")                            # 2
        followups.add(conn, carl, "tomorrow", by="Sam", note="tomorrow")                         # 3
        followups.add(conn, ana, "2024-06-01", by="Sam", note="done already", allow_past=True,
                      created_at="2024-05-20T10:00:00", done_at="2024-06-01T15:00:00", done_note="called")  # 4
    return people


def test_list_open_soonest_first(scheduled, crm):
    result = crm("followup", "list", "--format", "csv")
    assert result.stdout.splitlines()[0] == ",".join(followups.LIST_COLUMNS)
    rows = rows_of(result)
    assert [(r["id"], r["due"], r["days_overdue"], r["customer_name"]) for r in rows] == [
        ("1", "2024-06-10", "5", "Ana Reyes"), ("2", "2024-06-15", "0", "Bui Thi Lan"),
        ("3", "2024-06-16", "-1", "Carl Wood")]
    assert rows[0]["email"] == "ana@example.com" and rows[2]["email"] == ""


@pytest.mark.parametrize("args, ids", [
    (["--overdue"], ["1"]),
    (["--due", "today"], ["1", "2"]),
    (["--due", "tomorrow"], ["1", "2", "3"]),
    (["--due", "2024-06-09"], []),
    (["--by", "JOY"], ["1", "2"]),  # any case
    (["--by", "Sam"], ["3"]),
    (["--by", "Sam", "--all"], ["4", "3"]),
    (["--all"], ["4", "1", "2", "3"]),
    (["--customer", "Ana", "--all"], ["4", "1"]),
    (["--overdue", "--by", "Sam"], []),
    (["--limit", "2"], ["1", "2"]),
])
def test_list_filters(scheduled, crm, args, ids):
    assert [r["id"] for r in rows_of(crm("followup", "list", *args, "--format", "csv"))] == ids


def test_list_table(scheduled, crm):
    out = ok(crm("followup", "list", "--format", "table")).stdout
    assert "Follow-ups" in out and "days overdue" in out and "customer" in out and "due today" in out


def test_done(scheduled, crm, conn, monkeypatch, isolated_database):
    freeze(monkeypatch, datetime(2024, 6, 15, 16, 30, 0))
    result = ok(crm("followup", "done", "2", "--note", "will come Saturday"))
    assert result.stdout == "" and "follow-up 2 done" in result.stderr
    row = stored(conn)[1]
    assert (row["done_at"], row["done_note"]) == ("2024-06-15T16:30:00", "will come Saturday")
    assert [r["id"] for r in rows_of(crm("followup", "list", "--format", "csv"))] == ["1", "3"]
    with unchanged(isolated_database):
        assert_error(crm("followup", "done", "2"), 1, "follow-up 2 was already done at 2024-06-15T16:30:00")
        assert_error(crm("followup", "done", "99"), 1, "no follow-up with id 99")
        assert_error(crm("followup", "done", "99999999999999999999"), 1, "no follow-up")


def test_deleting_a_customer_deletes_their_follow_ups(scheduled, crm, conn):
    ok(crm("customer", "delete", "Ana", "--yes"))
    assert [row["id"] for row in stored(conn)] == [2, 3]


def test_customer_show_lists_open_follow_ups(scheduled, crm):
    shown = json.loads(ok(crm("customer", "show", "Ana", "--format", "json")).stdout)
    assert shown["open_followups"] == [{"id": 1, "due": "2024-06-10", "days_overdue": 5, "by": "Joy",
                                        "note": "overdue"}]
    table = ok(crm("customer", "show", "Ana", "--format", "table")).stdout
    assert "Open follow-ups" in table and "overdue" in table and "done already" not in table
    carl = ok(crm("customer", "show", "Carl", "--format", "table")).stdout
    assert "tomorrow" in carl
    no_followups = ok(crm("customer", "show", "Carl", "--format", "json")).stdout
    assert json.loads(no_followups)["open_followups"][0]["days_overdue"] == -1


# --- churn --follow-up -------------------------------------------------------------------------------------

@pytest.fixture
def drifting(conn, monkeypatch):
    """Four repeat buyers, too few for a fitted model, so the churn report ranks by days silent over the
    usual gap and counts lapsed those silent for over 3 usual gaps (analytics/history.py).

    customer  purchase days (all 100.00)     gap  silent on 06-15  overdue  lapsed
    W         01-01, 01-11, 01-21             10   146              14.6     yes
    X         03-01, 03-31                    30   76               2.5      no
    Y         05-01, 05-11                    10   35               3.5      yes
    Z         06-01, 06-13                    12   2                0.2      no
    W was served by Joy twice and Sam once; X by Sam; Y by nobody.
    """
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        ids = {name: customers.add(conn, f"Customer {name}") for name in "WXYZ"}
        for name, days, staff in [("W", ["01-01", "01-11", "01-21"], ["Joy", "Sam", "Joy"]),
                                  ("X", ["03-01", "03-31"], ["Sam", None]), ("Y", ["05-01", "05-11"], [None, None]),
                                  ("Z", ["06-01", "06-13"], ["Marco", "Marco"])]:
            for day, by in zip(days, staff, strict=True):
                interactions.add(conn, ids[name], "purchase", at=f"2024-{day}T10:00:00", amount="100.00", by=by)
    return ids


def test_churn_follow_up_schedules_the_top_n_once(drifting, crm, conn):
    ranking = rows_of(crm("report", "churn", "--format", "csv"))
    top3 = [int(r["customer_id"]) for r in ranking[:3]]
    assert set(top3) == {drifting["W"], drifting["X"], drifting["Y"]}
    result = crm("report", "churn", "--follow-up", "3", "--limit", "1", "--format", "csv")
    assert len(rows_of(result)) == 1  # the report itself is as asked
    assert "scheduled 3 follow-ups due today (ids 1, 2, 3); 0 of the top 3 already had an open one" in result.stderr
    made = stored(conn)
    assert [row["customer_id"] for row in made] == top3
    assert {row["due"] for row in made} == {"2024-06-15"}
    staff = {row["customer_id"]: row["staff"] for row in made}
    assert staff == {drifting["W"]: "Joy", drifting["X"]: "Sam", drifting["Y"]: None}  # who served them most
    w_note = next(row["note"] for row in made if row["customer_id"] == drifting["W"])
    # No value at risk without a model: the note is the report's why.
    assert w_note.startswith("churn report 2024-06-15: buys about every 10 days") and "146 days ago" in w_note
    again = ok(crm("report", "churn", "--follow-up", "4", "--format", "csv"))
    assert "scheduled 1 follow-up due today (ids 4); 3 of the top 4 already had an open one" in again.stderr
    assert stored(conn)[-1]["customer_id"] == drifting["Z"] and stored(conn)[-1]["staff"] == "Marco"


def test_churn_follow_up_respects_min_risk_and_skips_open_ones(drifting, crm, conn):
    with db.transaction(conn):
        followups.add(conn, drifting["X"], "2024-06-20", note="already planned")
    # With no model, any --min-risk keeps the lapsed customers: W and Y; X (open follow-up) is not lapsed.
    result = ok(crm("report", "churn", "--follow-up", "10", "--min-risk", "0.5", "--format", "csv"))
    assert "scheduled 2 follow-ups" in result.stderr and "0 of the top 2 already had an open one" in result.stderr
    assert sorted(row["customer_id"] for row in stored(conn)[1:]) == sorted([drifting["W"], drifting["Y"]])


def test_churn_follow_up_errors_change_nothing(drifting, crm, isolated_database):
    with unchanged(isolated_database):
        assert_error(crm("report", "churn", "--follow-up", "3", "--as-of", "someday"), 1, "as-of", "someday")
        assert crm("report", "churn", "--follow-up", "-1").exit_code == 2


def test_churn_without_follow_up_writes_nothing_but_its_stored_fit(drifting, crm, isolated_database):
    """Without --follow-up the report schedules nothing; the one thing it may keep is the fit it made
    (model_fits, reused by later reports)."""
    before = db_dump(isolated_database, without=("model_fits",))
    ok(crm("report", "churn", "--format", "csv"))
    assert db_dump(isolated_database, without=("model_fits",)) == before


# --- the demo -----------------------------------------------------------------------------------------------

def test_demo_has_follow_ups_of_every_kind(conn, monkeypatch):
    from crmcli import demo
    from crmcli.demo import generate

    freeze(monkeypatch, NOW)
    business = generate(200, seed=1, today=TODAY)
    assert business.followups == generate(200, seed=1, today=TODAY).followups  # deterministic
    with db.transaction(conn):
        counts = demo.fill(conn, count=200, seed=1)
    assert counts["followups"] == len(business.followups) == len(stored(conn)) >= 10
    rows = followups.list_followups(conn, include_done=True)
    assert any(r["done_at"] for r in rows)
    open_ = [r for r in rows if not r["done_at"]]
    assert {("overdue" if r["days_overdue"] > 0 else "today" if r["days_overdue"] == 0 else "upcoming")
            for r in open_} == {"overdue", "today", "upcoming"}
    assert len({r["by"] for r in rows}) >= 3
    for row in stored(conn):
        assert row["created_at"] < "2024-06-15" and (row["done_at"] is None or row["created_at"] <= row["done_at"]
                                                     < "2024-06-15")
        since = conn.execute("SELECT since FROM customers WHERE id = ?", (row["customer_id"],)).fetchone()[0]
        assert row["created_at"][:10] >= since


def test_demo_follow_ups_leave_the_rest_of_the_business_as_it_was():
    """They come from their own random stream: customers, interactions and feedback are what they were."""
    from crmcli.demo import generate

    business = generate(60, seed=3, today=TODAY)
    assert business.followups
    # The sizes the generator made before follow-ups existed (checked against that version).
    assert (len(business.customers), len(business.interactions), len(business.feedback)) == (60, 351, 24)
    assert business.interactions[0]["at"] == "2021-12-15T09:36:58"
