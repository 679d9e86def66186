"""crm on a PostgreSQL server (crmcli/postgres.py, postgres_schema.py), against a real one: the server that
.ci/run starts, named by CRM_TEST_POSTGRES, or one tests/conftest.py starts. Without a server they skip, and
fail under CI."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest
from _processes import CRM, run_crm
from helpers import another_command_writing, assert_error, freeze, new_pg_database, unchanged, undo_m011

from crmcli import db, postgres

pytestmark = pytest.mark.both_backends


@pytest.mark.postgresql_only
def test_the_demo_gives_the_same_reports_to_the_cent_on_both(crm, tmp_path, backend, isolated_database, monkeypatch):
    """The same data, same as-of day and same models: byte-identical machine output on SQLite and the server."""
    freeze(monkeypatch)  # both demos made at the same moment, so their stamps agree too
    assert crm("demo").exit_code == 0
    monkeypatch.setenv("CRM_DB", str(tmp_path / "same.db"))
    assert crm("demo").exit_code == 0
    commands = [("report", "best", "--limit", "0"), ("report", "churn", "--limit", "0"),
                ("customer", "list", "--limit", "0"), ("customer", "show", "3", "--format", "json"),
                ("report", "summary", "--periods", "3"), ("agenda",), ("feedback", "list", "--open")]
    on_file = {args: crm(*args, "--format", "csv") if "--format" not in args else crm(*args) for args in commands}
    monkeypatch.setenv("CRM_DB", str(isolated_database))
    for args, expected in on_file.items():
        got = crm(*args, "--format", "csv") if "--format" not in args else crm(*args)
        assert expected.exit_code == 0 and got.exit_code == 0, (args, got.stderr, expected.stderr)
        assert got.stdout == expected.stdout, args


def test_info_names_the_backend_and_the_server(crm, backend, isolated_database):
    import json

    assert crm("init").exit_code == 0
    record = json.loads(crm("info", "--format", "json").stdout)
    assert record["backend"] == backend
    assert record["schema_version"] == db.schema_version(db.connect(isolated_database))
    if backend == "postgresql":
        assert record["server"] == postgres.shown(str(isolated_database))
        assert record["database"] in str(isolated_database) and record["server_version"]


def test_eight_writers_at_once_lose_nothing(backend, isolated_database):
    """8 processes, each adding customers and purchases in its own commands: every row is stored, the ids
    are unique, and the per-customer summary the triggers keep equals the aggregate."""
    per_writer = 6
    script = textwrap.dedent(f"""
        import subprocess, sys
        crm = {CRM!r}
        for i in range({per_writer}):
            ref = subprocess.run([*crm, "customer", "add", f"Writer {{sys.argv[1]}} customer {{i}}"],
                                 capture_output=True, text=True, check=True).stdout.strip()
            subprocess.run([*crm, "interaction", "add", ref, "--type", "purchase", "--amount", "10.00"],
                           capture_output=True, check=True)
    """)
    writers = [subprocess.Popen([sys.executable, "-c", script, str(n)], env=os.environ.copy()) for n in range(8)]
    assert [w.wait(timeout=300) for w in writers] == [0] * 8
    conn = db.connect(isolated_database)
    assert conn.execute("SELECT count(*), count(DISTINCT id) FROM customers").fetchone()[:] == (8 * per_writer,) * 2
    assert conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == 8 * per_writer
    summary = conn.execute("SELECT count(*), sum(purchase_records), sum(net_revenue_cents) "
                           "FROM customer_summary").fetchone()
    assert tuple(summary) == (8 * per_writer, 8 * per_writer, 8 * per_writer * 1000)


def test_a_killed_client_leaves_no_half_written_transaction(backend, isolated_database, tmp_path):
    """A process killed (SIGKILL) inside crm's write transaction: nothing it wrote is seen, and the next
    writer is not kept waiting for long."""
    ready = tmp_path / "ready"
    script = textwrap.dedent(f"""
        import time
        from crmcli import customers, db
        conn = db.connect({str(isolated_database)!r})
        with db.transaction(conn):
            for i in range(50):
                customers.add(conn, f"Half {{i}}")
            open({str(ready)!r}, "w").close()
            time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
    for _ in range(600):
        if ready.exists() or child.poll() is not None:
            break
        subprocess.run(["sleep", "0.1"])
    assert ready.exists()
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    after = run_crm("customer", "add", "Whole", timeout=60)
    assert after.returncode == 0, after.stderr
    listed = run_crm("customer", "list", "--format", "csv").stdout.splitlines()
    assert [line.split(",")[1] for line in listed[1:]] == ["Whole"]


def test_a_replaced_demo_starts_again_from_id_1(crm, backend, isolated_database):
    """`demo --force` empties the shop, and its ids start again at 1, as in a new database (on the server,
    deleted rows would leave the id sequences where they were)."""
    assert crm("demo", "--customers", "30").exit_code == 0
    assert crm("demo", "--customers", "20", "--force").exit_code == 0
    conn = db.connect(isolated_database)
    for table in ("customers", "interactions", "feedback", "followups"):
        low, high, count = conn.execute(f"SELECT min(id), max(id), count(*) FROM {table}").fetchone()
        assert (low, high) == (1, count), table
    assert conn.execute("SELECT count(*) FROM customer_history WHERE action = 'delete'").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM customer_summary").fetchone()[0] <= 20
    conn.close()


@pytest.mark.postgresql_only
def test_a_database_of_another_program_is_refused_and_left_as_it_is(crm, backend, isolated_database, pg_base):
    other = new_pg_database(pg_base, "template0")
    import psycopg

    with psycopg.connect(other, autocommit=True) as raw:
        raw.execute("CREATE TABLE invoices (id int)")
    with unchanged(other):
        assert_error(crm("--db", other, "customer", "add", "Ann"), 3, "tables of another program", "invoices",
                     "left as it is")


@pytest.mark.postgresql_only
def test_a_newer_schema_is_refused(crm, backend, isolated_database):
    conn = db.connect(isolated_database)
    conn.execute("UPDATE crm_schema SET version = version + 1")
    with unchanged(isolated_database):
        assert_error(crm("customer", "add", "Ann"), 3, "newer crmcli", "upgrade crmcli")


@pytest.mark.both_backends
def test_a_database_at_schema_10_gets_the_wider_type_at_index_and_keeps_its_data(crm, backend, isolated_database):
    """Schema 11 (migrations.M011, postgres_schema.UPGRADES) widens interactions_type_at (type, at) into
    interactions_type_at_customer (type, at, customer_id, amount_cents)."""
    assert crm("customer", "add", "Ann").exit_code == 0
    added = crm("interaction", "add", "1", "--type", "purchase", "--amount", "12.50", "--at", "2026-01-05")
    assert added.exit_code == 0, added.stderr
    conn = db.connect(isolated_database)
    with db.transaction(conn):  # as schema 10 left it
        undo_m011(conn)
        if backend == "postgresql":
            conn.execute("UPDATE crm_schema SET version = 10")
    if backend == "sqlite":
        conn.execute("PRAGMA user_version = 10")
    conn.close()
    before = crm("report", "summary", "--as-of", "2026-01-31", "--format", "csv")
    assert before.exit_code == 0, before.stderr  # reading migrates it
    conn = db.connect(isolated_database)
    assert db.schema_version(conn) == 11
    if backend == "postgresql":
        definition = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'interactions_type_at_customer'"
                                  ).fetchone()[0]
        assert definition.endswith("(type, at, customer_id, amount_cents)")
    else:
        columns = [row[2] for row in conn.execute("PRAGMA index_info(interactions_type_at_customer)")]
        assert columns == ["type", "at", "customer_id", "amount_cents"]
    assert conn.execute("SELECT count(*), sum(amount_cents) FROM interactions").fetchone()[:] == (1, 1250)
    assert "revenue,12.50" in before.stdout


@pytest.mark.postgresql_only
def test_backup_and_restore_of_a_server_point_at_pg_dump(crm, backend, isolated_database, tmp_path):
    assert_error(crm("backup", tmp_path / "copy.db"), 3, "PostgreSQL server", "pg_dump")
    assert_error(crm("restore", tmp_path / "copy.db", "--yes"), 3, "PostgreSQL server", "pg_restore")
    assert not (tmp_path / "copy.db").exists()


def test_a_password_is_never_shown(backend):
    assert postgres.shown("postgresql://ann:s3cret@db.example/shop") == "postgresql://ann:***@db.example/shop"
    assert postgres.shown("postgresql://ann@db.example/shop") == "postgresql://ann@db.example/shop"


def test_forget_on_the_server_erases_live_rows_and_history(crm, backend, isolated_database):
    assert crm("customer", "add", "Ann Secret", "--email", "ann@secret.example", "--note", "private").exit_code == 0
    assert crm("customer", "edit", "1", "--phone", "555 0101").exit_code == 0
    result = crm("customer", "forget", "1", "--yes")
    assert result.exit_code == 0, result.stderr
    conn = db.connect(isolated_database)
    text = repr([tuple(r) for table in ("customers", "customer_history")
                 for r in conn.execute(f"SELECT * FROM {table}")])
    assert "Ann Secret" not in text and "ann@secret.example" not in text and "555 0101" not in text
    if backend == "postgresql":
        assert "write-ahead log, its replicas and base backups" in result.stderr


def test_help_loads_no_driver_even_pointed_at_a_server(backend, isolated_database):
    code = ("import sys, runpy; sys.argv = ['crm', '--help']\n"
            "try:\n    runpy.run_module('crmcli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sys.modules), file=sys.stderr)")
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy())
    loaded = set(shown.stderr.split())
    assert "typer" in loaded and not {m for m in loaded if m.split(".")[0] in ("psycopg", "numpy", "scipy")}


@pytest.mark.postgresql_only
def test_the_server_schema_is_the_sqlite_schema(backend, isolated_database, tmp_path):
    """Tables with the same columns in the same order, the same views and indexes, and the same triggers
    but the two amount checks, which are a CHECK constraint (amount_cents_in_bounds) on the server."""
    from crmcli import migrations

    file = db.connect(tmp_path / "schema.db")
    server = db.connect(isolated_database)
    assert db.schema_version(file) == db.schema_version(server) == migrations.latest_version()

    def sqlite_names(kind):
        return {row[0] for row in file.execute(
            "SELECT name FROM sqlite_master WHERE type = ? AND sql IS NOT NULL", (kind,))}

    tables = sqlite_names("table")
    assert set(postgres.tables(server)) == tables | {"crm_schema"}
    for table in tables | sqlite_names("view"):
        on_file = [row[1] for row in file.execute(f"PRAGMA table_info({table})")]
        on_server = [row[0] for row in server.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND table_schema = "
            "current_schema() ORDER BY ordinal_position", (table,))]
        assert on_server == on_file, table
    # Each index by name and its columns in order (indexdef: "CREATE INDEX n ON t USING btree (a, b) ...").
    server_indexes = {row[0]: re.search(r"\(([^)]*)\)", row[1]).group(1).split(", ") for row in server.execute(
        "SELECT indexname, indexdef FROM pg_indexes i WHERE schemaname = current_schema() "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)")}  # a key's own index
    # (index_xinfo: seqno, cid, name, desc, coll, key; the key columns, each with its order)
    file_indexes = {name: [row[2] + " DESC" * row[3] for row in file.execute(f"PRAGMA index_xinfo({name})") if row[5]]
                    for name in sqlite_names("index") - {"interactions_amount_out_of_bounds"}}
    assert server_indexes == file_indexes
    server_views = {row[0] for row in server.execute(
        "SELECT viewname FROM pg_views WHERE schemaname = current_schema()")}
    assert server_views == sqlite_names("view")
    server_triggers = {row[0] for row in server.execute(
        "SELECT DISTINCT trigger_name FROM information_schema.triggers WHERE trigger_schema = current_schema()")}
    assert server_triggers == sqlite_names("trigger") - {"interactions_amount_insert", "interactions_amount_update"}


@pytest.mark.postgresql_only
def test_an_sqlite_file_moved_by_export_and_import_gives_the_same_best_customers(crm, backend, isolated_database,
                                                                                   tmp_path, monkeypatch):
    """README's way onto a server: crm export all from the file, crm import each file into the server."""
    freeze(monkeypatch)
    file = tmp_path / "shop.db"
    assert crm("--db", file, "demo").exit_code == 0
    assert crm("--db", file, "export", "all", "--output", tmp_path / "moved").exit_code == 0
    for noun in ("customer", "interaction", "feedback"):
        name = "feedback" if noun == "feedback" else f"{noun}s"
        result = crm(noun, "import", tmp_path / "moved" / f"{name}.csv")
        assert result.exit_code == 0, result.stderr
    expected = crm("--db", file, "report", "best", "--limit", "0", "--format", "csv")
    got = crm("report", "best", "--limit", "0", "--format", "csv")
    assert got.exit_code == 0 and got.stdout == expected.stdout


@pytest.mark.postgresql_only
def test_a_writer_kept_waiting_past_the_timeout_is_exit_3_and_reads_still_work(crm, backend, isolated_database,
                                                                               monkeypatch):
    ok_add = crm("customer", "add", "Ann")
    assert ok_add.exit_code == 0, ok_add.stderr
    monkeypatch.setattr(postgres, "BUSY_TIMEOUT_SECONDS", 0.3)
    with another_command_writing(isolated_database), unchanged(isolated_database):
        assert_error(crm("customer", "add", "Bob"), 3, "is busy", "another crm command is writing",
                     "nothing was changed")
        listed = crm("customer", "list", "--format", "csv")  # readers never wait
        assert listed.exit_code == 0 and "Ann" in listed.stdout, listed.stderr
    assert crm("customer", "add", "Bob").exit_code == 0  # the lock let go, the queue moves
