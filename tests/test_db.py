"""The database file: where it lives, how it is opened, what is refused, migrations and views."""

import os
import sqlite3
import stat
from datetime import date

import pytest
from helpers import assert_error, db_dump, file_digest, freeze

from crmcli import customers, db, feedback, interactions, migrations
from crmcli.errors import DatabaseUnusable

pytestmark = pytest.mark.sqlite_only(
    "the SQLite file itself: where it lives, its pragmas, header, locks and migrations; the server's "
    "schema, version checks and refusals: tests/postgres/test_server.py")


def make_crm_db(path, rows=0):
    """A real crmcli database with `rows` customers, closed (so the WAL is checkpointed into the file)."""
    conn = db.connect(path)
    with db.transaction(conn):
        for n in range(rows):
            customers.add(conn, f"Customer {n}", email=f"c{n}@example.com", note="x" * 200)
    conn.close()
    return path


def pragma(conn, name):
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


# --- location and creation -----------------------------------------------------------------------

def test_new_database_is_created_with_its_parent_folders_and_mode_0600(tmp_path):
    path = tmp_path / "a" / "b" / "c" / "crm.db"
    conn = db.connect(path)
    conn.close()
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_cli_creates_the_database_given_with_db(tmp_path, crm, isolated_database):
    path = tmp_path / "elsewhere" / "shop.db"
    result = crm("--db", path, "customer", "add", "Ann")
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not isolated_database.exists()  # --db wins over CRM_DB


def test_location_is_crm_db_env_else_user_data_folder(monkeypatch, tmp_path, isolated_database):
    assert db.default_path() == isolated_database
    monkeypatch.delenv("CRM_DB")
    default = db.default_path()
    # conftest points XDG_DATA_HOME into tmp_path: the per-user data folder, never the real home.
    assert default.name == "crm.db"
    assert str(default).startswith(str(tmp_path))
    assert "crmcli" in default.parts


def test_an_existing_empty_file_becomes_a_crmcli_database(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    conn = db.connect(path)
    assert pragma(conn, "application_id") == db.APPLICATION_ID
    assert db.schema_version(conn) == migrations.latest_version()
    conn.close()


# --- connection settings -------------------------------------------------------------------------

@pytest.mark.parametrize("reopen", [False, True])
def test_connection_settings(isolated_database, reopen):
    if reopen:
        make_crm_db(isolated_database)
    conn = db.connect(isolated_database)
    try:
        assert pragma(conn, "journal_mode") == "wal"
        assert pragma(conn, "foreign_keys") == 1
        assert pragma(conn, "busy_timeout") >= 5000
        assert db.schema_version(conn) == migrations.latest_version()
        assert pragma(conn, "application_id") == db.APPLICATION_ID
        # The caller controls transactions (BEGIN IMMEDIATE in db.transaction).
        assert conn.isolation_level is None
    finally:
        conn.close()


def test_foreign_keys_are_enforced(conn):
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO interactions (customer_id, type, at, created_at) VALUES (999, 'call', 'x', 'x')")


def test_amounts_are_stored_as_integers(conn, monkeypatch):
    freeze(monkeypatch)
    with db.transaction(conn):
        cid = customers.add(conn, "Ann")
        interactions.add(conn, cid, "purchase", at="2024-01-01", amount="0.1")
        interactions.add(conn, cid, "purchase", at="2024-01-02", amount="0.2")
    assert [tuple(r) for r in conn.execute("SELECT typeof(amount_cents), amount_cents FROM interactions")] == [
        ("integer", 10), ("integer", 20)]
    assert conn.execute("SELECT sum(amount_cents) FROM interactions").fetchone()[0] == 30


# --- files that are refused and left as they are ----------------------------------------------------

def test_a_text_file_is_refused_and_left_unchanged(isolated_database, crm):
    isolated_database.write_text("name,email\nAnn,ann@example.com\n")
    before = file_digest(isolated_database)
    with pytest.raises(DatabaseUnusable, match="not a crmcli database"):
        db.connect(isolated_database)
    result = crm("customer", "add", "Bob")
    assert_error(result, 3, str(isolated_database), "not a crmcli database")
    assert file_digest(isolated_database) == before
    assert sorted(os.listdir(isolated_database.parent)) == ["crm.db"]


def test_another_programs_sqlite_database_is_refused_and_left_unchanged(isolated_database, crm):
    other = sqlite3.connect(isolated_database)
    other.execute("CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT)")
    other.execute("INSERT INTO recipes (title) VALUES ('pho')")
    other.commit()
    other.close()
    assert sqlite3.connect(isolated_database).execute("PRAGMA application_id").fetchone()[0] == 0
    before = file_digest(isolated_database)
    with pytest.raises(DatabaseUnusable, match="another program"):
        db.connect(isolated_database)
    for command in (("customer", "add", "Bob"), ("customer", "list"), ("info",)):
        assert_error(crm(*command), 3, "another program", str(isolated_database))
    assert file_digest(isolated_database) == before
    assert sorted(os.listdir(isolated_database.parent)) == ["crm.db"]  # no -wal or -shm left behind


def test_a_database_from_a_newer_crmcli_is_refused_and_left_unchanged(isolated_database, crm):
    make_crm_db(isolated_database, rows=3)
    newer = migrations.latest_version() + 1
    raw = sqlite3.connect(isolated_database)
    raw.execute(f"PRAGMA user_version = {newer}")
    raw.close()
    before = file_digest(isolated_database)
    with pytest.raises(DatabaseUnusable, match="newer crmcli") as caught:
        db.connect(isolated_database)
    assert f"schema {newer}" in caught.value.message
    for command in (("customer", "add", "Bob"), ("customer", "list"), ("info",), ("demo", "--force")):
        assert_error(crm(*command), 3, "newer crmcli", "upgrade")
    assert file_digest(isolated_database) == before
    raw = sqlite3.connect(isolated_database)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == newer
    assert raw.execute("SELECT count(*) FROM customers").fetchone()[0] == 3


@pytest.mark.parametrize("damage", ["truncated", "header_only", "garbage_after_first_page", "garbage_late_pages"])
def test_a_damaged_crmcli_database_gives_exit_3_and_a_clear_message(isolated_database, crm, damage):
    make_crm_db(isolated_database, rows=300)
    data = isolated_database.read_bytes()
    assert len(data) > 8 * 4096
    random_tail = lambda keep: data[:keep] + bytes((n * 37 + 11) % 256 for n in range(len(data) - keep))  # noqa: E731
    damaged = {
        "truncated": data[: len(data) // 2],
        "header_only": data[:100],
        "garbage_after_first_page": random_tail(4096),
        "garbage_late_pages": random_tail(len(data) // 2 // 4096 * 4096),
    }[damage]
    isolated_database.write_bytes(damaged)
    before = file_digest(isolated_database)
    for command in (("customer", "list"), ("customer", "add", "Bob"), ("customer", "list", "--search", "Customer 299")):
        result = crm(*command)
        assert_error(result, 3, "malformed")
        assert "damaged" in result.stderr
    assert file_digest(isolated_database) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to a chmod 0444 file anyway: cannot make it read-only")
def test_a_read_only_database_file_gives_exit_3_on_write_and_is_unchanged(isolated_database, crm):
    make_crm_db(isolated_database, rows=2)
    isolated_database.chmod(0o444)
    try:
        before = file_digest(isolated_database)
        assert_error(crm("customer", "add", "Bob"), 3, "database")
        assert file_digest(isolated_database) == before
    finally:
        isolated_database.chmod(0o600)


def test_a_database_sqlite_can_only_read_gives_exit_3_on_write(isolated_database, crm, monkeypatch):
    """Read-only as SQLite sees it (also for root, whom chmod does not stop): reads work, writes exit 3."""
    make_crm_db(isolated_database, rows=2)
    real_connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect",
                        lambda path, *args, **kwargs: real_connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs))
    before = file_digest(isolated_database)
    for command in (("customer", "add", "Bob"), ("customer", "edit", "1", "--name", "Zed"), ("demo", "--force")):
        assert_error(crm(*command), 3, "database unusable", "readonly")
    listed = crm("customer", "list", "--format", "csv")
    assert listed.exit_code == 0 and "Customer 1" in listed.stdout
    assert file_digest(isolated_database) == before


def test_locked_past_the_busy_timeout_gives_exit_3_and_changes_nothing(isolated_database, crm, monkeypatch):
    make_crm_db(isolated_database, rows=2)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.2)
    holder = sqlite3.connect(isolated_database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = crm("customer", "add", "Bob")
        assert_error(result, 3, "database is locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r[0] for r in sqlite3.connect(isolated_database).execute("SELECT name FROM customers ORDER BY id")] == [
        "Customer 0", "Customer 1"]


# --- migrations ------------------------------------------------------------------------------------

def test_migrate_twice_is_a_no_op(conn, isolated_database):
    with db.transaction(conn):
        customers.add(conn, "Ann")
    before = db_dump(isolated_database)
    migrations.migrate(conn)
    migrations.migrate(conn)
    assert db_dump(isolated_database) == before
    conn.close()
    db.connect(isolated_database).close()
    assert db_dump(isolated_database) == before


def test_a_failing_migration_changes_nothing(isolated_database, monkeypatch):
    make_crm_db(isolated_database, rows=1)
    before = db_dump(isolated_database)
    broken = ["CREATE TABLE half_done (a)", "ALTER TABLE customers ADD COLUMN x", "THIS IS NOT SQL"]
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises(sqlite3.Error):
        db.connect(isolated_database)
    assert db_dump(isolated_database) == before  # no half_done table, no new column, user_version as it was


def test_a_failing_migration_on_a_new_file_leaves_it_empty(isolated_database, monkeypatch):
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, ["THIS IS NOT SQL"]])
    with pytest.raises(sqlite3.Error):
        db.connect(isolated_database)
    raw = sqlite3.connect(isolated_database)
    assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
    assert raw.execute("PRAGMA application_id").fetchone()[0] == 0


def test_a_migration_step_may_be_python_and_stays_atomic_with_its_version(isolated_database, monkeypatch):
    make_crm_db(isolated_database, rows=1)
    before = db_dump(isolated_database)
    seen = []

    def fails_after_writing(conn):
        conn.execute("UPDATE customers SET name = 'changed'")
        seen.append(conn.execute("SELECT name FROM customers").fetchone()[0])
        raise sqlite3.OperationalError("the step failed")

    broken = ["CREATE TABLE half_done (a)", migrations.PythonStep("fails", fails_after_writing)]
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError, match="the step failed"):
        db.connect(isolated_database)
    assert seen == ["changed"]  # it ran, inside the migration's transaction...
    assert db_dump(isolated_database) == before  # ...which was rolled back whole, user_version included
    works = ["CREATE TABLE done (a)",
             migrations.PythonStep("fills", lambda conn: conn.execute("INSERT INTO done VALUES (1)"))]
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:-1], works])
    conn = db.connect(isolated_database)
    done = conn.execute("SELECT a FROM done").fetchone()[0]
    assert (db.schema_version(conn), done) == (len(migrations.MIGRATIONS), 1)
    conn.close()


def test_the_list_of_migrations_prints_the_same_every_run():
    """bench_reports fingerprints the schema by repr(MIGRATIONS): no memory addresses in it."""
    assert " at 0x" not in repr(migrations.MIGRATIONS)


@pytest.mark.parametrize("claimed, found", [(3, "table customer_history (schema 4)"),
                                            (1, "table import_batches (schema 2)"),
                                            (4, "trigger customer_history_tag_changed (schema 5)"),
                                            (0, "table customers (schema 1)")])
def test_a_user_version_lowered_by_hand_is_refused_and_the_file_left_alone(isolated_database, crm, claimed, found):
    make_crm_db(isolated_database, rows=2)
    raw = sqlite3.connect(isolated_database)
    raw.execute(f"PRAGMA user_version = {claimed}")
    raw.close()
    before, dump = file_digest(isolated_database), db_dump(isolated_database)
    with pytest.raises(DatabaseUnusable) as caught:
        db.connect(isolated_database)
    message = caught.value.message
    assert str(isolated_database) in message and f"says it has schema {claimed}" in message and found in message
    assert f'PRAGMA user_version = {migrations.latest_version()}"' in message  # how to set it back
    for command in (("customer", "add", "Bob"), ("customer", "list")):
        assert_error(crm(*command), 3, str(isolated_database), f"schema {claimed}", found)
    assert db_dump(isolated_database) == dump
    assert file_digest(isolated_database) == before


def test_a_tag_changed_by_another_program_is_recorded(conn, isolated_database):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann", tags=["vip"])
        bob = customers.add(conn, "Bob")
    other = sqlite3.connect(isolated_database)
    with other:
        other.execute("UPDATE customer_tags SET tag = 'x' WHERE customer_id = ?", (ann,))
    with other:
        other.execute("UPDATE customer_tags SET customer_id = ? WHERE customer_id = ?", (bob, ann))
    with other:
        other.execute("UPDATE customer_tags SET tag = tag")  # no change, no record
    other.close()

    def tag_rows(customer_id):
        return [tuple(r) for r in conn.execute(
            "SELECT action, old_value, new_value FROM customer_history WHERE customer_id = ? AND field = 'tag' "
            "ORDER BY id", (customer_id,))]

    # As M004 records tags: each change is the old tag removed and the new one added.
    assert tag_rows(ann) == [("add", None, "vip"), ("edit", "vip", None), ("edit", None, "x"), ("edit", "x", None)]
    assert tag_rows(bob) == [("edit", None, "x")]


def test_amounts_beyond_the_bound_are_found_through_their_own_index(conn):
    plan = " ".join(row[3] for row in conn.execute(
        "EXPLAIN QUERY PLAN " + interactions._OUT_OF_BOUNDS_SQL))
    assert "interactions_amount_out_of_bounds" in plan


def test_schema_is_created_only_by_the_migrations(conn):
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {"customers", "customer_tags", "interactions", "feedback", "customer_stats", "open_complaints"} <= names


# --- views for the sqlite3 shell and Datasette ---------------------------------------------------------

def test_customer_stats_and_open_complaints_views(conn, monkeypatch):
    freeze(monkeypatch)
    with db.transaction(conn):
        ann = customers.add(conn, "Ann", email="ann@example.com")
        bob = customers.add(conn, "Bob")
        interactions.add(conn, ann, "purchase", at="2024-01-10T10:00", amount="10.00")
        interactions.add(conn, ann, "purchase", at="2024-01-10T15:30", amount="5.50")  # same day: one purchase day
        interactions.add(conn, ann, "purchase", at="2024-02-01", amount="20")
        interactions.add(conn, ann, "refund", at="2024-02-03", amount="3.25")
        interactions.add(conn, ann, "call", at="2024-02-04")
        interactions.add(conn, bob, "visit", at="2024-02-04")
        open_id = feedback.add(conn, ann, "complaint", at="2024-03-01", category="Delivery", rating=2, note="late")
        done = feedback.add(conn, ann, "complaint", at="2024-03-02")
        feedback.add(conn, ann, "compliment", at="2024-03-03")
        feedback.resolve(conn, done, note="refunded")
    rows = {r["customer_id"]: dict(r) for r in conn.execute("SELECT * FROM customer_stats")}
    assert rows[ann] == {
        "customer_id": ann, "name": "Ann", "email": "ann@example.com", "purchases": 2, "purchase_days": 2,
        "revenue": 32.25, "first_purchase": "2024-01-10", "last_purchase": "2024-02-01", "open_complaints": 1,
        "purchase_records": 3,
    }
    assert rows[bob] == {
        "customer_id": bob, "name": "Bob", "email": None, "purchases": 0, "purchase_days": 0,
        "revenue": 0.0, "first_purchase": None, "last_purchase": None, "open_complaints": 0, "purchase_records": 0,
    }
    complaints = [dict(r) for r in conn.execute("SELECT * FROM open_complaints")]
    assert complaints == [{
        "id": open_id, "customer_id": ann, "name": "Ann", "at": "2024-03-01", "category": "delivery", "rating": 2,
        "staff": None, "note": "late", "days_open": (date.today() - date(2024, 3, 1)).days,
    }]
