"""customer_summary (migrations.M008) always equals the aggregate over interactions (sql.summary_of),
whatever wrote to the file: crm's commands, imports and their undo, merges, deletes, forgetting, and
another program's raw SQL (the triggers call no function of crm's, so a plain sqlite3 connection works)."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from datetime import date

import pytest
from helpers import undo_m011
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcli import customers, db, duplicates, history, interactions, sql
from crmcli.errors import CrmError, DatabaseUnusable
from crmcli.migrations import MIGRATIONS, SUMMARY_INTERACTION_TRIGGERS
from crmcli.transfer import imports
from crmcli.transfer.imports import batches

DAYS = ["2026-01-01", "2026-01-01T09:30:00", "2026-01-02", "2026-01-02T18:00:00", "2026-03-05"]
TYPES = ["purchase", "refund", "call", "purchase"]
# What another program may store: a date with a space and time, a month, text after the day.
RAW_DAYS = [*DAYS, "2026-01-01 12:00", "2026-01", "2026-01-02zz", "2026-01-0"]


def summary(conn: sqlite3.Connection) -> list[tuple]:
    return [tuple(row) for row in conn.execute("SELECT * FROM customer_summary ORDER BY customer_id")]


def aggregate(conn: sqlite3.Connection) -> list[tuple]:
    """The figures as every query computed them before the summary: from the purchases themselves."""
    return [tuple(row) for row in conn.execute(
        sql.summary_of("customer_id IN (SELECT id FROM customers)") + " ORDER BY customer_id")]


def assert_reports_read_the_same(conn: sqlite3.Connection) -> None:
    """A report's rows from customer_summary (analytics/data.py, as of a day after all the data) are the
    rows it would aggregate from the purchases themselves."""
    import numpy as np

    from crmcli.analytics import data

    day = date(2099, 1, 1)
    # A first or last purchase day that is no date (another program's '2026-01') is refused the same way
    # by both: the same error, naming the same row.
    read = []
    for query in (data._SUMMARY_SQL, data._BASE_SQL):
        try:
            read.append(data._load(conn, day, query, {}))
        except DatabaseUnusable as refused:
            read.append(str(refused))
    from_summary, from_purchases = read
    if isinstance(from_purchases, str) or isinstance(from_summary, str):
        assert from_summary == from_purchases
        assert "which is not a date" in from_purchases
        return
    for name in vars(from_purchases):
        np.testing.assert_array_equal(getattr(from_summary, name), getattr(from_purchases, name), err_msg=name)


def triggers(conn) -> list[tuple]:
    """The summary's triggers as they stand: SQLite's text of each; on a server each one's definition and
    whether it fires (a bulk change there sets them aside by a setting of its transaction, which is shown)."""
    if db.is_server(conn):
        from crmcli.postgres_schema import SUMMARY_ASIDE_SETTING

        aside = conn.execute(f"SELECT current_setting('{SUMMARY_ASIDE_SETTING}', true)").fetchone()[0]
        return [(aside or "", *row) for row in conn.execute(
            "SELECT tgname, tgenabled, pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgname LIKE 'customer_summary%' AND NOT tgisinternal ORDER BY tgname").fetchall()]
    return conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'customer_summary%' "
                        "ORDER BY name").fetchall()


def _some(conn, table="customers", column="id"):
    return [row[0] for row in conn.execute(f"SELECT {column} FROM {table} ORDER BY {column}")]


def step(conn: sqlite3.Connection, raw: sqlite3.Connection, data: st.DataObject, action: str) -> None:
    """One change, by crm (conn, in a transaction) or by another program (raw, autocommit)."""
    people = _some(conn)
    rows = _some(conn, "interactions")
    pick = data.draw
    if action == "add" and people:
        kind = pick(st.sampled_from(TYPES))
        with db.transaction(conn):
            interactions.add(conn, pick(st.sampled_from(people)), kind, at=pick(st.sampled_from(DAYS)),
                             amount=str(pick(st.integers(0, 500))) if kind in ("purchase", "refund") else None)
    elif action == "raw insert" and people:
        raw.execute("INSERT INTO interactions (customer_id, type, at, amount_cents, created_at) VALUES (?, ?, ?, ?, ?)",
                    (pick(st.sampled_from(people)), pick(st.sampled_from(TYPES)), pick(st.sampled_from(RAW_DAYS)),
                     pick(st.one_of(st.none(), st.integers(0, 90000))), "2026-01-01"))
    elif action == "raw update" and rows:
        column, value = pick(st.sampled_from([
            ("amount_cents", st.one_of(st.none(), st.integers(0, 90000))), ("type", st.sampled_from(TYPES)),
            ("at", st.sampled_from(RAW_DAYS)), ("note", st.just("x"))]))
        raw.execute(f"UPDATE interactions SET {column} = ? WHERE id = ?", (pick(value), pick(st.sampled_from(rows))))
    elif action == "raw move" and rows and people:
        raw.execute("UPDATE interactions SET customer_id = ? WHERE id = ?",
                    (pick(st.sampled_from(people)), pick(st.sampled_from(rows))))
    elif action == "raw delete" and rows:
        raw.execute("DELETE FROM interactions WHERE id = ?", (pick(st.sampled_from(rows)),))
    elif action == "raw delete customer" and people:
        raw.execute("PRAGMA foreign_keys = ON")
        raw.execute("DELETE FROM customers WHERE id = ?", (pick(st.sampled_from(people)),))
    elif action == "delete customer" and people:
        with db.transaction(conn):
            customers.delete(conn, pick(st.sampled_from(people)))
    elif action == "merge" and len(people) >= 2:
        keep, gone = pick(st.lists(st.sampled_from(people), min_size=2, max_size=2, unique=True))
        with db.transaction(conn):
            duplicates.merge(conn, keep, gone)
    elif action == "forget" and people:
        with db.transaction(conn):
            history.forget(conn, pick(st.sampled_from(people)))
    elif action == "import" and people:
        lines = ["customer_id,type,at,amount"] + [
            f"{pick(st.sampled_from(people))},{kind},{pick(st.sampled_from(DAYS))[:10]},"
            f"{pick(st.integers(0, 300)) if kind in ('purchase', 'refund') else ''}"
            for kind in pick(st.lists(st.sampled_from(TYPES), min_size=1, max_size=8))]
        imports.import_csv(conn, "interactions", io.BytesIO("\n".join(lines).encode()), source="t.csv")
    elif action == "undo":
        live = [row[0] for row in conn.execute("SELECT id FROM import_batches WHERE undone_at IS NULL")]
        if live:
            with contextlib.suppress(CrmError), db.transaction(conn):
                batches.undo(conn, pick(st.sampled_from(live)), force=True)
    elif action == "new customer":
        with db.transaction(conn):
            customers.add(conn, pick(st.sampled_from(["Ann", "Bob", "Cy"])))


ACTIONS = ["add", "raw insert", "raw update", "raw move", "raw delete", "raw delete customer", "delete customer",
           "merge", "forget", "import", "undo", "new customer"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_summary_equals_the_aggregate_after_any_sequence_of_changes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("summary") / "crm.db"
    conn = db.connect(path)
    raw = sqlite3.connect(path, isolation_level=None)  # another program: plain sqlite3, its own defaults
    before = triggers(conn)
    try:
        with db.transaction(conn):
            for name in ("Ann", "Bob", "Cy", "Di"):
                customers.add(conn, name)
        for action in data.draw(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=25)):
            step(conn, raw, data, action)
            assert summary(conn) == aggregate(conn), action
            assert_reports_read_the_same(conn)
        assert triggers(conn) == before  # set aside by imports, undo and merges, always made again
    finally:
        raw.close()
        conn.close()


def test_the_summary_is_what_the_purchases_say(conn):
    """Worked by hand: two receipts on one day are one purchase day; a refund lowers revenue, not days."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        bob = customers.add(conn, "Bob")
        interactions.add(conn, ann, "purchase", at="2026-01-01T09:00", amount="10.00")
        interactions.add(conn, ann, "purchase", at="2026-01-01T17:00", amount="5.50")
        interactions.add(conn, ann, "purchase", at="2026-01-20", amount="4.50")
        interactions.add(conn, ann, "refund", at="2026-01-21", amount="2.00")
        interactions.add(conn, ann, "call", at="2026-01-22")
        interactions.add(conn, bob, "call", at="2026-01-22")
    # The last figure: the purchases of the first purchase day (M010), 10.00 + 5.50.
    assert summary(conn) == [(ann, 2, 3, 1800, 2000, "2026-01-01", "2026-01-20", 1550)]
    conn.execute("DELETE FROM interactions WHERE customer_id = ? AND at = '2026-01-20'", (ann,))
    assert summary(conn) == [(ann, 1, 2, 1350, 1550, "2026-01-01", "2026-01-01", 1550)]
    conn.execute("UPDATE interactions SET customer_id = ? WHERE customer_id = ?", (bob, ann))
    assert summary(conn) == [(bob, 1, 2, 1350, 1550, "2026-01-01", "2026-01-01", 1550)]
    # An earlier purchase starts the first day's sum again; a refund and a later purchase leave it.
    interactions.add(conn, bob, "purchase", at="2025-12-31T10:00", amount="1.25")
    interactions.add(conn, bob, "refund", at="2025-12-30", amount="1.00")
    interactions.add(conn, bob, "purchase", at="2026-02-01", amount="3.00")
    assert summary(conn) == [(bob, 3, 4, 1675, 1975, "2025-12-31", "2026-02-01", 125)]


def test_the_migration_fills_the_summary_of_an_older_file(tmp_path):
    """A file at schema 7 with purchases: M008 computes every customer's row."""
    path = tmp_path / "old.db"
    conn = db.connect(path)
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        interactions.add(conn, ann, "purchase", at="2026-01-01", amount="3.00")
        interactions.add(conn, ann, "purchase", at="2026-01-04", amount="4.00")
    expected = summary(conn)
    with db.transaction(conn):
        conn.execute("DROP VIEW customer_stats")
        conn.execute("CREATE VIEW customer_stats AS SELECT 1 AS customer_id")
        for name in (*SUMMARY_INTERACTION_TRIGGERS, "customer_summary_customer_delete", "customer_summary_customer_id"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("DROP TABLE customer_summary")
        undo_m011(conn)
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    upgraded = db.connect(path)
    assert db.schema_version(upgraded) >= 8
    assert summary(upgraded) == expected == [(ann, 2, 2, 700, 700, "2026-01-01", "2026-01-04", 300)]
    assert [tuple(row) for row in upgraded.execute("SELECT purchases, revenue FROM customer_stats")] == [(2, 7.0)]


def test_m010_adds_the_first_day_purchases_to_the_summary_of_an_older_file(tmp_path):
    """A file at schema 9: M010 fills first_day_cents for every customer, and its triggers keep it."""
    path = tmp_path / "old.db"
    conn = db.connect(path)
    with db.transaction(conn):
        ann, bob = customers.add(conn, "Ann"), customers.add(conn, "Bob")
        for at, amount in [("2026-01-01T09:00", "3.00"), ("2026-01-01T18:00", "1.50"), ("2026-01-04", "4.00")]:
            interactions.add(conn, ann, "purchase", at=at, amount=amount)
        interactions.add(conn, bob, "refund", at="2026-01-02", amount="2.00")
    with db.transaction(conn):
        for name in (*SUMMARY_INTERACTION_TRIGGERS, "customer_summary_customer_id"):
            conn.execute(f"DROP TRIGGER {name}")
        conn.execute("ALTER TABLE customer_summary DROP COLUMN first_day_cents")
        for statement in MIGRATIONS[7][4:6] + MIGRATIONS[7][7:8] + MIGRATIONS[8][1:]:  # M008's and M009's triggers
            conn.execute(statement)
        undo_m011(conn)
        conn.execute("PRAGMA user_version = 9")
    conn.close()
    upgraded = db.connect(path)
    assert db.schema_version(upgraded) >= 10
    assert summary(upgraded) == aggregate(upgraded) == [(ann, 2, 3, 850, 850, "2026-01-01", "2026-01-04", 450),
                                                        (bob, 0, 0, -200, 0, None, None, 0)]
    with db.transaction(upgraded):
        interactions.add(upgraded, bob, "purchase", at="2026-01-03", amount="1.00")
    assert summary(upgraded) == aggregate(upgraded)
    assert summary(upgraded)[1] == (bob, 1, 1, -100, 100, "2026-01-03", "2026-01-03", 100)


def test_a_failed_import_leaves_the_summary_and_its_triggers_as_they_were(conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        interactions.add(conn, ann, "purchase", at="2026-01-01", amount="3.00")
    before, kept = summary(conn), triggers(conn)
    bad = f"customer_id,type,at,amount\n{ann},purchase,2026-01-02,1.00\n{ann},purchase,not a day,1.00\n"
    with pytest.raises(CrmError):
        imports.import_csv(conn, "interactions", io.BytesIO(bad.encode()), source="bad.csv")
    assert summary(conn) == before
    assert triggers(conn) == kept and len(kept) == 5


def test_a_dry_run_leaves_the_summary_and_its_triggers_as_they_were(conn):
    from crmcli.transfer.imports.options import Options

    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
    before, kept = summary(conn), triggers(conn)
    good = f"customer_id,type,at,amount\n{ann},purchase,2026-01-02,1.00\n"
    result = imports.import_csv(conn, "interactions", io.BytesIO(good.encode()), source="ok.csv",
                                options=Options(dry_run=True))
    assert result.added == 1 and result.batch_id is None
    assert summary(conn) == before == [] and triggers(conn) == kept
    imports.import_csv(conn, "interactions", io.BytesIO(good.encode()), source="ok.csv")
    assert summary(conn) == [(ann, 1, 1, 100, 100, "2026-01-02", "2026-01-02", 100)] and triggers(conn) == kept
