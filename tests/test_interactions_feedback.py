"""Interactions and feedback, called directly: validation, listing filters, resolving complaints."""

from datetime import datetime
from decimal import Decimal

import pytest
from helpers import db_dump, freeze

from crmcli import customers, db, feedback, interactions
from crmcli.errors import Conflict, InvalidInput, NotFound


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


@pytest.fixture
def ann(conn):
    with db.transaction(conn):
        return customers.add(conn, "Ann")


@pytest.fixture
def bob(conn):
    with db.transaction(conn):
        return customers.add(conn, "Bob")


def add_interaction(conn, cid, kind, **kwargs):
    with db.transaction(conn):
        return interactions.add(conn, cid, kind, **kwargs)


def add_feedback(conn, cid, kind, **kwargs):
    with db.transaction(conn):
        return feedback.add(conn, cid, kind, **kwargs)


# --- interactions: validation ----------------------------------------------------------------------

def test_purchase_and_refund_store_exact_amounts(conn, ann):
    add_interaction(conn, ann, "purchase", at="2024-05-01", amount="1234.5", by=" Linh ", note=" big order ")
    add_interaction(conn, ann, "Refund", at="2024-05-02", amount="0.10")
    rows = interactions.list_interactions(conn)
    assert [(r["type"], r["amount"], r["by"], r["note"]) for r in rows] == [
        ("refund", Decimal("0.10"), None, None), ("purchase", Decimal("1234.50"), "Linh", "big order")]
    assert str(rows[1]["amount"]) == "1234.50"


def test_at_defaults_to_now(conn, ann):
    add_interaction(conn, ann, "call")
    assert interactions.list_interactions(conn)[0]["at"] == "2024-06-15T12:00:00"


@pytest.mark.parametrize("kind", ["purchase", "refund"])
def test_amount_is_required_for_purchases_and_refunds(conn, ann, isolated_database, kind):
    before = db_dump(isolated_database)
    with pytest.raises(InvalidInput, match=f"amount: is required for a {kind} \\(None\\)"):
        add_interaction(conn, ann, kind, at="2024-05-01")
    with pytest.raises(InvalidInput, match=f"amount: is required for a {kind}"):
        add_interaction(conn, ann, kind, at="2024-05-01", amount="  ")
    assert db_dump(isolated_database) == before


@pytest.mark.parametrize("kind", ["call", "email", "meeting", "visit", "support", "other"])
def test_amount_is_refused_for_other_interactions(conn, ann, isolated_database, kind):
    before = db_dump(isolated_database)
    with pytest.raises(InvalidInput,
                       match=f"amount: is only recorded for purchases and refunds, not for a {kind} \\('5'\\)"):
        add_interaction(conn, ann, kind, at="2024-05-01", amount="5")
    assert db_dump(isolated_database) == before
    add_interaction(conn, ann, kind, at="2024-05-01")  # fine without an amount


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "purchase", "amount": "-5"}, "amount: must not be negative"),
    ({"type": "purchase", "amount": "12.345"}, "amount: has more than 2 decimal places ('12.345')"),
    ({"type": "purchase", "amount": "abc"}, "amount: is not a number ('abc')"),
    ({"type": "purchase", "amount": "10", "at": "2024-06-16"}, "at: is in the future ('2024-06-16')"),
    ({"type": "purchase", "amount": "10", "at": "2024-06-15T12:00:01"}, "at: is in the future"),
    ({"type": "call", "at": "2024-07-01"}, "at: is in the future"),
    ({"type": "call", "at": "13/05/2024"}, "at: is not a date"),
    ({"type": "sale"}, "type: must be one of purchase, refund, call"),
])
def test_bad_interactions_are_rejected_and_nothing_is_written(conn, ann, isolated_database, kwargs, message):
    before = db_dump(isolated_database)
    kind, rest = kwargs["type"], {k: v for k, v in kwargs.items() if k != "type"}  # the case is shared
    with pytest.raises(InvalidInput) as caught:
        add_interaction(conn, ann, kind, **rest)
    assert message in caught.value.message
    assert db_dump(isolated_database) == before


def test_external_id_is_recorded_once(conn, ann):
    add_interaction(conn, ann, "purchase", at="2024-05-01", amount="1", external_id="till-1")
    with pytest.raises(Conflict, match="external_id: 'till-1' is already recorded"):
        add_interaction(conn, ann, "purchase", at="2024-05-01", amount="1", external_id="till-1")


# --- interactions: listing ---------------------------------------------------------------------------

@pytest.fixture
def history(conn, ann, bob):
    moments = [
        (ann, "purchase", "2024-03-09T23:59:59", "10"),
        (ann, "call", "2024-03-10", None),
        (ann, "purchase", "2024-03-10T08:00:00", "20"),
        (bob, "purchase", "2024-03-10T23:59:59", "30"),
        (ann, "visit", "2024-03-11T00:00:00", None),
        (bob, "refund", "2024-03-12T10:00:00", "5"),
    ]
    return [add_interaction(conn, cid, kind, at=at, amount=amount) for cid, kind, at, amount in moments]


def ats(rows):
    return [r["at"] for r in rows]


def test_list_is_newest_first(conn, history):
    rows = interactions.list_interactions(conn)
    assert ats(rows) == sorted(ats(rows), reverse=True)
    assert ats(rows)[0] == "2024-03-12T10:00:00" and ats(rows)[-1] == "2024-03-09T23:59:59"
    assert tuple(rows[0]) == interactions.LIST_COLUMNS
    assert rows[0]["customer_name"] == "Bob"


def test_list_until_includes_the_whole_day(conn, history):
    # A day recorded without a time is listed as its midnight (interactions.full_moment): one form.
    rows = interactions.list_interactions(conn, until="2024-03-10")
    assert ats(rows) == ["2024-03-10T23:59:59", "2024-03-10T08:00:00", "2024-03-10T00:00:00", "2024-03-09T23:59:59"]


def test_list_since_starts_at_the_beginning_of_the_day(conn, history):
    rows = interactions.list_interactions(conn, since="2024-03-10")
    assert ats(rows) == ["2024-03-12T10:00:00", "2024-03-11T00:00:00", "2024-03-10T23:59:59",
                         "2024-03-10T08:00:00", "2024-03-10T00:00:00"]


def test_list_since_and_until_the_same_day(conn, history):
    rows = interactions.list_interactions(conn, since="2024-03-10", until="2024-03-10")
    assert ats(rows) == ["2024-03-10T23:59:59", "2024-03-10T08:00:00", "2024-03-10T00:00:00"]


def test_list_by_type_customer_and_limit(conn, history, ann, bob):
    assert [r["amount"] for r in interactions.list_interactions(conn, type="purchase")] == [
        Decimal("30.00"), Decimal("20.00"), Decimal("10.00")]
    assert {r["customer_id"] for r in interactions.list_interactions(conn, customer_id=bob)} == {bob}
    assert len(interactions.list_interactions(conn, customer_id=ann)) == 4
    assert ats(interactions.list_interactions(conn, limit=2)) == ["2024-03-12T10:00:00", "2024-03-11T00:00:00"]
    assert ats(interactions.list_interactions(conn, type="refund", since="yesterday")) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"since": "2024-03-12", "until": "2024-03-10"}, "since: is after --until (2024-03-10) ('2024-03-12')"),
    ({"since": "10/03/2024"}, "since: is not a date"),
    ({"until": "2024-02-30"}, "until: is not a date"),
    ({"type": "sale"}, "type: must be one of"),
])
def test_list_rejects_bad_filters(conn, history, kwargs, message):
    with pytest.raises(InvalidInput) as caught:
        interactions.list_interactions(conn, **kwargs)
    assert message in caught.value.message


# --- feedback ---------------------------------------------------------------------------------------------

def test_feedback_is_stored_cleaned(conn, ann):
    fid = add_feedback(conn, ann, "Complaint", rating="2", category=" Delivery ", by="Marco", note="late again",
                       at="2024-06-01T09:30")
    [row] = feedback.list_feedback(conn)
    assert row == {
        "id": fid, "customer_id": ann, "customer_name": "Ann", "type": "complaint", "rating": 2,
        "category": "delivery", "by": "Marco", "at": "2024-06-01T09:30:00", "resolved_at": None,
        "resolution_days": None, "note": "late again", "resolution_note": None,
    }
    assert tuple(row) == feedback.LIST_COLUMNS


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "complaint", "at": "2024-06-16"}, "at: is in the future ('2024-06-16')"),
    ({"type": "compliment", "at": "2024-06-15T12:00:01"}, "at: is in the future"),
    ({"type": "complaint", "rating": "0"}, "rating: must be from 1 to 5 ('0')"),
    ({"type": "complaint", "rating": "6"}, "rating: must be from 1 to 5 ('6')"),
    ({"type": "complaint", "rating": "great"}, "rating: must be a whole number from 1 to 5 ('great')"),
    ({"type": "praise"}, "type: must be one of complaint, compliment, suggestion ('praise')"),
    ({"type": "compliment", "resolved_at": "2024-06-01"}, "resolved_at: only complaints are resolved"),
    ({"type": "complaint", "at": "2024-06-02", "resolved_at": "2024-06-01"}, "resolved_at: is before the complaint"),
])
def test_bad_feedback_is_rejected_and_nothing_is_written(conn, ann, isolated_database, kwargs, message):
    before = db_dump(isolated_database)
    kind, rest = kwargs["type"], {k: v for k, v in kwargs.items() if k != "type"}  # the case is shared
    with pytest.raises(InvalidInput) as caught:
        add_feedback(conn, ann, kind, **rest)
    assert message in caught.value.message
    assert db_dump(isolated_database) == before


def test_resolving_a_complaint_keeps_the_resolution_time(conn, ann):
    fid = add_feedback(conn, ann, "complaint", at="2024-06-10T00:00")
    with db.transaction(conn):
        result = feedback.resolve(conn, fid, note=" called back, refunded ")
    assert result == {"id": fid, "resolved_at": "2024-06-15T12:00:00", "resolution_days": 5.5}
    [row] = feedback.list_feedback(conn)
    assert row["resolved_at"] == "2024-06-15T12:00:00"
    assert row["resolution_days"] == 5.5
    assert row["resolution_note"] == "called back, refunded"


def test_resolving_twice_is_a_conflict_and_keeps_the_first_resolution(conn, ann, isolated_database, monkeypatch):
    fid = add_feedback(conn, ann, "complaint", at="2024-06-10")
    with db.transaction(conn):
        feedback.resolve(conn, fid, note="first")
    before = db_dump(isolated_database)
    freeze(monkeypatch, datetime(2024, 6, 20, 9, 0))
    with (
        pytest.raises(Conflict, match=f"complaint {fid} was already resolved at 2024-06-15T12:00:00"),
        db.transaction(conn),
    ):
        feedback.resolve(conn, fid, note="second")
    assert db_dump(isolated_database) == before


@pytest.mark.parametrize("kind", ["compliment", "suggestion"])
def test_only_complaints_are_resolved(conn, ann, isolated_database, kind):
    fid = add_feedback(conn, ann, kind, at="2024-06-10")
    before = db_dump(isolated_database)
    with (
        pytest.raises(InvalidInput, match=f"feedback: is a {kind}; only complaints are resolved \\({fid}\\)"),
        db.transaction(conn),
    ):
        feedback.resolve(conn, fid)
    assert db_dump(isolated_database) == before


@pytest.mark.parametrize("fid", [999, 2**63, -(2**70)])
def test_resolving_unknown_feedback(conn, ann, fid):
    with pytest.raises(NotFound, match=f"feedback: no feedback with id {fid}"):
        feedback.resolve(conn, fid)


def test_feedback_list_open_type_and_order(conn, ann, bob):
    open_old = add_feedback(conn, ann, "complaint", at="2024-06-01")
    resolved = add_feedback(conn, ann, "complaint", at="2024-06-02")
    compliment = add_feedback(conn, bob, "compliment", at="2024-06-03", rating=5)
    open_new = add_feedback(conn, bob, "complaint", at="2024-06-04")
    suggestion = add_feedback(conn, ann, "suggestion", at="2024-06-05")
    with db.transaction(conn):
        feedback.resolve(conn, resolved)
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731
    assert ids(feedback.list_feedback(conn)) == [suggestion, open_new, compliment, resolved, open_old]
    assert ids(feedback.list_feedback(conn, open_only=True)) == [open_new, open_old]
    assert ids(feedback.list_feedback(conn, type="compliment")) == [compliment]
    assert ids(feedback.list_feedback(conn, type="complaint")) == [open_new, resolved, open_old]
    assert ids(feedback.list_feedback(conn, open_only=True, customer_id=ann)) == [open_old]
    assert ids(feedback.list_feedback(conn, limit=2)) == [suggestion, open_new]


def test_history_brought_in_with_resolved_at(conn, ann):
    fid = add_feedback(conn, ann, "complaint", at="2024-01-01", resolved_at="2024-01-03T12:00",
                       resolution_note="fixed")
    [row] = feedback.list_feedback(conn, type="complaint")
    assert (row["id"], row["resolved_at"], row["resolution_days"]) == (fid, "2024-01-03T12:00:00", 2.5)
    assert feedback.list_feedback(conn, open_only=True) == []


def test_a_page_of_the_newest_is_the_head_of_the_whole_list(conn, backend):
    """interaction list --limit N reads the newest N of each type by index; the page must be exactly
    the first N rows of the unlimited list, with the filters, ties on `at` broken by id, and
    interactions of a customer that no longer exists (another program's) left out as in the whole list."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        bob = customers.add(conn, "Bob")
        for n in range(12):
            for who, kind in ((ann, "purchase"), (bob, "call"), (ann, "refund"), (bob, "email")):
                interactions.add(conn, who, kind, at=f"2024-05-{n % 9 + 1:02d}T10:00",
                                 amount="1.00" if kind in ("purchase", "refund") else None)
    if backend == "sqlite":  # a server enforces the foreign key whoever writes: no orphan can be made there
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("INSERT INTO interactions (customer_id, type, at, created_at) "
                     "VALUES (99, 'call', '2024-06-01', 'x')")
    for filters in ({}, {"type": "call"}, {"since": "2024-05-03", "until": "2024-05-06"}, {"customer_id": bob}):
        whole = interactions.list_interactions(conn, **filters)
        for limit in (1, 5, 20, 100):
            assert interactions.list_interactions(conn, limit=limit, **filters) == whole[:limit], (filters, limit)
    assert 99 not in {row["customer_id"] for row in interactions.list_interactions(conn, limit=3)}


def test_feedback_list_dates_are_in_one_form(conn):
    """feedback list's at and resolved_at, like interaction list's at: a day typed without a time is its midnight."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        typed_day = feedback.add(conn, ann, "complaint", at="2024-03-10")
        feedback.add(conn, ann, "compliment", at="2024-03-11T09:30")
        feedback.resolve(conn, typed_day, note="sorted")
    rows = feedback.list_feedback(conn)
    assert [row["at"] for row in rows] == ["2024-03-11T09:30:00", "2024-03-10T00:00:00"]
    assert all(len(row["resolved_at"] or "x" * 19) == 19 for row in rows)
