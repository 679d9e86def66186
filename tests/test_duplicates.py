"""Likely duplicates (with the reason) and merging two records of one person in one transaction."""

import json

import pytest
from helpers import assert_error, freeze, unchanged

from crmcli import customers, db, duplicates, feedback, interactions

# The same tests on an SQLite file and on a PostgreSQL server (tests/conftest.py).
pytestmark = pytest.mark.both_backends


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


def add(conn, name, **fields):
    with db.transaction(conn):
        return customers.add(conn, name, **fields)


def pairs(conn):
    with db.snapshot(conn):
        return [(p["customer_id"], p["duplicate_id"], p["reason"]) for p in duplicates.find(conn)]


def test_each_rule_finds_its_pair_and_says_why(conn):
    a = add(conn, "Ann Lee", email="ann@example.com", phone="+44 20 7946 0018")
    b = add(conn, "Annie L.", phone="020 7946 0018")  # same number, national format
    c = add(conn, "Nguyễn Văn An")
    d = add(conn, "an, NGUYEN van")  # case, accents, punctuation, word order
    e = add(conn, "Jonathan Smith")
    f = add(conn, "Jonathon Smith")  # one letter
    g = add(conn, "Ünal Öz", email="Ünal.Oz@Example.com")
    h = add(conn, "Somebody Else")
    # The core refuses an email that differs only in case; a file edited with the sqlite3 shell may not.
    with db.transaction(conn):
        conn.execute("UPDATE customers SET email = 'Ünal.OZ@EXAMPLE.com' WHERE id = ?", (h,))
    add(conn, "Li Wu", phone="12 34")  # too short to compare
    add(conn, "Li Wu Two", phone="1234")
    add(conn, "Bo")
    add(conn, "Bob")  # too short to call similar
    assert pairs(conn) == [
        (g, h, "same email"),
        (a, b, "same phone number"),
        (c, d, "same name"),
        (e, f, "similar name"),
    ]


def test_names_that_merely_share_a_prefix_are_not_duplicates(conn):
    add(conn, "Christopher Jones")
    add(conn, "Christina Jones")
    add(conn, "Maria Garcia")
    add(conn, "Mario Garcia Lopez")
    assert pairs(conn) == []


def test_several_reasons_are_listed_together(conn):
    a = add(conn, "Ann Lee", phone="0412 555 019")
    b = add(conn, "ann lee", phone="0412-555-019")
    assert pairs(conn) == [(a, b, "same phone number; same name")]


def test_duplicates_command_formats(crm, conn):
    add(conn, "Ann Lee")
    add(conn, "Ann  LEE")
    result = crm("customer", "duplicates", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{
        "customer_id": 1, "name": "Ann Lee", "email": None, "phone": None, "duplicate_id": 2,
        "duplicate_name": "Ann  LEE", "duplicate_email": None, "duplicate_phone": None, "reason": "same name"}]
    assert crm("customer", "duplicates", "--format", "csv").stdout.count("\n") == 2


def test_finding_duplicates_leaves_the_database_as_it_was(crm, conn, isolated_database):
    add(conn, "Ann Lee")
    add(conn, "Ann Lea")
    with unchanged(isolated_database):
        assert crm("customer", "duplicates").exit_code == 0


def test_merge_moves_everything_and_fills_empty_fields(crm, conn):
    keep = add(conn, "Ann Lee", email="ann@example.com", tags=["vip"], since="2023-05-01", note="likes tea")
    dup = add(conn, "Ann L.", phone="0412 555 019", company="Lee Bakery", external_id="C7", email="old@example.com",
              tags=["vip", "wholesale"], since="2021-01-01", note="second record")
    with db.transaction(conn):
        interactions.add(conn, dup, "purchase", at="2024-01-01", amount="10")
        interactions.add(conn, keep, "purchase", at="2024-02-01", amount="20")
        feedback.add(conn, dup, "complaint", at="2024-01-02")
    result = crm("customer", "merge", str(keep), "Ann L.", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "merged customer 2 (Ann L.) into 1 (Ann Lee): moved 1 interactions, 1 feedback, 1 tags" in result.stderr
    merged = customers.get(conn, keep)
    assert (merged["phone"], merged["company"], merged["external_id"], merged["since"]) == (
        "0412 555 019", "Lee Bakery", "C7", "2021-01-01")
    assert merged["email"] == "ann@example.com"  # KEEP's own value wins
    assert merged["tags"] == ["vip", "wholesale"]
    # nothing of DUP is lost: what differed is in the note
    assert merged["note"] == "likes tea\nmerged from customer 2: name Ann L.; email old@example.com; note second record"
    assert conn.execute("SELECT count(*) FROM customers WHERE id = ?", (dup,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM interactions WHERE customer_id = ?", (keep,)).fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM feedback WHERE customer_id = ?", (keep,)).fetchone()[0] == 1
    assert conn.execute("SELECT id FROM customers WHERE external_id = 'C7'").fetchone()[0] == keep


def test_merge_moves_a_unique_email_to_keep(conn):
    keep = add(conn, "Ann")
    dup = add(conn, "Ann", email="ann@example.com")
    with db.transaction(conn):
        duplicates.merge(conn, keep, dup)
    assert customers.get(conn, keep)["email"] == "ann@example.com"
    assert [r["id"] for r in customers.list_customers(conn, search="ann@example.com")] == [keep]  # keys follow


def test_merge_errors_leave_the_database_unchanged(crm, conn, isolated_database):
    add(conn, "Ann")
    add(conn, "Bob")
    with unchanged(isolated_database):
        assert_error(crm("customer", "merge", "1", "1", "--yes"), 1, "is the same customer as KEEP")
        assert_error(crm("customer", "merge", "1", "99", "--yes"), 1, "no customer with id 99")
        assert_error(crm("customer", "merge", "1", "2"), 1, "add --yes")


def test_merge_is_one_transaction(conn, monkeypatch, isolated_database):
    keep = add(conn, "Ann")
    dup = add(conn, "Ann B", phone="0123 456 789")
    with db.transaction(conn):
        interactions.add(conn, dup, "call", at="2024-01-01")

    def broken(*args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(customers, "edit", broken)
    with unchanged(isolated_database), pytest.raises(RuntimeError), db.transaction(conn):
        duplicates.merge(conn, keep, dup)


def test_merge_moves_follow_ups(conn):
    from crmcli import duplicates, followups

    with db.transaction(conn):
        keep = customers.add(conn, "Ann Lee", email="ann@example.com")
        dup = customers.add(conn, "Ann  Lee")
        followups.add(conn, dup, due="today", note="call back")
    with db.transaction(conn):
        duplicates.merge(conn, keep, dup)
    assert [tuple(row) for row in conn.execute("SELECT customer_id, note FROM followups")] == [(keep, "call back")]
