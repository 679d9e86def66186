"""Backup and restore: consistent copies, private files, refusing what is not a crmcli database."""

import os
import sqlite3
import stat
import threading

import pytest
from helpers import assert_error, db_dump, freeze, unchanged

from crmcli import customers, db, interactions, migrations
from crmcli.transfer import backup

pytestmark = pytest.mark.sqlite_only(
    "backup and restore copy an SQLite file; on a server they point at pg_dump and pg_restore "
    "(tests/postgres/test_server.py)")


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


@pytest.fixture
def shop(conn):
    with db.transaction(conn):
        for n in range(50):
            customer = customers.add(conn, f"Customer {n}", email=f"c{n}@example.com")
            interactions.add(conn, customer, "purchase", at="2024-01-01", amount="10")
    return conn


def count(path, table="customers"):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def test_backup_is_a_complete_private_single_file(crm, shop, tmp_path):
    target = tmp_path / "backups" / "shop.db"
    target.parent.mkdir()
    result = crm("backup", target)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and f"to {target}" in result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["shop.db"]  # no -wal, no temporary file
    assert db_dump(target) == db_dump(db.default_path())
    assert backup.inspect(target)["customers"] == 50


def test_backup_into_a_folder_gets_a_dated_name(crm, shop, tmp_path):
    folder = tmp_path / "b"
    folder.mkdir()
    assert crm("backup", folder).exit_code == 0
    assert [p.name for p in folder.iterdir()] == ["crm-20240615-120000.db"]


def test_backup_refuses_to_overwrite_without_force(crm, shop, tmp_path):
    target = tmp_path / "b.db"
    target.write_text("precious")
    assert_error(crm("backup", target), 1, "already exists", "--force")
    assert target.read_text() == "precious"
    assert crm("backup", target, "--force").exit_code == 0
    assert count(target) == 50
    assert_error(crm("backup", db.default_path()), 1, "is the database crm is using")
    assert_error(crm("backup", tmp_path / "no" / "such" / "b.db"), 1, "folder that does not exist")


def test_backup_is_consistent_while_another_process_writes(shop, isolated_database, tmp_path):
    """A writer keeps adding customers with their purchase in one transaction each; every backup
    must hold whole transactions only: as many purchases as customers."""
    stop = threading.Event()

    def writer():
        conn = db.connect(isolated_database)
        n = 0
        while not stop.is_set():
            with db.transaction(conn):
                customer = customers.add(conn, f"Writer {n}")
                interactions.add(conn, customer, "purchase", at="2024-01-01", amount="1")
            n += 1
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for n in range(5):
            target = tmp_path / f"b{n}.db"
            backup.backup(shop, isolated_database, target)
            assert count(target, "customers") == count(target, "interactions")
            assert sqlite3.connect(target).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        stop.set()
        thread.join()


def test_restore_replaces_the_database_and_keeps_the_old_one_aside(crm, shop, isolated_database, tmp_path):
    target = tmp_path / "b.db"
    crm("backup", target)
    crm("customer", "add", "Added After The Backup")
    shop.close()  # a restore waits until no other connection has the database open
    before_restore = db_dump(isolated_database)
    result = crm("restore", target, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "restored" in result.stderr and "50 customers" in result.stderr
    aside = tmp_path / "crm.db.before-restore-20240615-120000"
    assert f"kept in {aside}" in result.stderr
    assert count(isolated_database) == 50
    assert db_dump(aside) == before_restore
    assert stat.S_IMODE(aside.stat().st_mode) == 0o600
    assert crm("customer", "list", "--search", "Added After").stdout.count("\n") == 1  # header only


def test_restore_waits_for_other_connections_then_refuses_cleanly(crm, shop, isolated_database, tmp_path,
                                                                  monkeypatch):
    """The restore holds the database alone, so it cannot start while another program keeps it open."""
    crm("backup", tmp_path / "b.db")
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.3)
    with unchanged(isolated_database):
        assert_error(crm("restore", tmp_path / "b.db", "--yes"), 3, f"the database {isolated_database} is in use",
                     "Close it and try again", "nothing was changed")
    assert not list(tmp_path.glob("*before-restore*"))
    shop.close()
    assert crm("restore", tmp_path / "b.db", "--yes").exit_code == 0


def test_restore_refuses_what_is_not_a_crmcli_database(crm, shop, isolated_database, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    newer = tmp_path / "newer.db"
    crm("backup", newer)
    raw = sqlite3.connect(newer)
    raw.execute(f"PRAGMA user_version = {migrations.latest_version() + 1}")
    raw.close()
    with unchanged(isolated_database):
        assert_error(crm("restore", text, "--yes"), 1, "is not a crmcli database (not an SQLite file)",
                     "nothing was changed")
        assert_error(crm("restore", other, "--yes"), 1, "not crmcli's")
        assert_error(crm("restore", newer, "--yes"), 1, "newer crmcli")
        assert_error(crm("restore", tmp_path / "missing.db", "--yes"), 1, "is not a file")
        assert_error(crm("restore", isolated_database, "--yes"), 1, "is the database itself")
    assert not list(tmp_path.glob("*before-restore*"))


def test_restore_asks_and_refuses_without_a_terminal(crm, shop, isolated_database, tmp_path):
    crm("backup", tmp_path / "b.db")
    with unchanged(isolated_database):
        assert_error(crm("restore", tmp_path / "b.db"), 1, "add --yes")


def test_restore_over_a_damaged_database(crm, tmp_path, shop, isolated_database):
    crm("backup", tmp_path / "b.db")
    shop.close()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{isolated_database}{suffix}"):
            os.remove(f"{isolated_database}{suffix}")
    isolated_database.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    assert crm("info").exit_code == 3
    result = crm("restore", tmp_path / "b.db", "--yes")
    assert result.exit_code == 0, result.stderr
    assert count(isolated_database) == 50
    assert (tmp_path / "crm.db.before-restore-20240615-120000").read_bytes().startswith(b"SQLite format 3")


def test_restore_upgrades_an_older_backup(crm, tmp_path, monkeypatch):
    """A backup from the schema before this one is restored and migrated."""
    old = tmp_path / "old.db"
    # A context of its own: monkeypatch.undo() would also undo the autouse fixture's
    # CRM_DB and HOME, and the restore would then land in the real home directory.
    with monkeypatch.context() as older_crmcli:
        older_crmcli.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:-1])
        conn = db.connect(old)
        with db.transaction(conn):
            # As the older crmcli wrote it: today's customers.add needs today's schema.
            conn.execute("INSERT INTO customers (name, created_at, updated_at) "
                         "VALUES ('From The Old Days', '2024-01-01', '2024-01-01')")
        conn.close()
    freeze(monkeypatch)
    result = crm("restore", old, "--yes")
    assert result.exit_code == 0, result.stderr
    conn = sqlite3.connect(db.default_path())
    assert conn.execute("PRAGMA user_version").fetchone()[0] == migrations.latest_version()
    assert conn.execute("SELECT name FROM customers").fetchall() == [("From The Old Days",)]


def test_backup_onto_a_device_is_refused_and_leaves_it_alone(crm, shop):
    assert_error(crm("backup", os.devnull, "--force"), 1, "is not a regular file")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
