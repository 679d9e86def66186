"""A killed `crm backup` leaves a hidden full copy of everyone's data (`.NAME.pidPID-XXXX.tmp`): the next
backup into that folder removes it, `crm customer forget` names it, and a temporary file of a backup that
is still running (in another process) is never touched."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _processes import kill_group, start_crm

from crmcli import customers, db

pytestmark = pytest.mark.sqlite_only("crm backup's temporary copies of an SQLite file; a server's backup is pg_dump")

PERSON = "Zebulon Quartermaine"


def big_database(path: Path) -> None:
    """About 50 MB, so that writing a copy takes a while; one identifiable person in it."""
    conn = db.connect(path)
    try:
        with db.transaction(conn):
            customers.add(conn, PERSON, email="zebulon@example.com")
            conn.executemany(
                "INSERT INTO customers (name, note, created_at, updated_at) VALUES (?, ?, '2024-01-01', '2024-01-01')",
                [(f"Customer {n}", os.urandom(1500).hex()) for n in range(8000)])
    finally:
        conn.close()


def temporaries(folder: Path, name: str = "*") -> list[Path]:
    return sorted(folder.glob(f".{name}.*.tmp"))


def kill_a_backup_mid_copy(target: Path, log_dir: Path) -> Path:
    """SIGKILL a real `crm backup TARGET` once its temporary copy holds at least half the database."""
    full = os.path.getsize(db.default_path())
    for attempt in range(5):
        proc = start_crm(["backup", str(target)], log_dir=log_dir, name=f"backup-{attempt}")
        try:
            while proc.poll() is None:
                left = [p for p in temporaries(target.parent, target.name) if p.stat().st_size >= full // 2]
                if left:
                    kill_group(proc)
                    return left[0]
                time.sleep(0.002)
        finally:
            if proc.poll() is None:
                kill_group(proc)
        target.unlink(missing_ok=True)  # it finished before the kill; try again
    pytest.fail("could not kill `crm backup` while it was copying")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def fake_temporary(folder: Path, name: str, pid: int) -> Path:
    path = folder / f".{name}.pid{pid}-abcd1234.tmp"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"SQLite format 3\x00" + b"\x00" * 100)
    os.close(fd)
    return path


@pytest.mark.slow
def test_a_killed_backup_is_named_by_forget_and_removed_by_the_next_backup(crm, isolated_database, tmp_path):
    big_database(isolated_database)
    left = kill_a_backup_mid_copy(tmp_path / "nightly.db", tmp_path)
    assert not (tmp_path / "nightly.db").exists()
    assert PERSON.encode() in left.read_bytes()  # the reproduction: everyone's data, hidden, left behind

    forgot = crm("customer", "forget", "zebulon@example.com", "--yes")
    assert forgot.exit_code == 0, forgot.stderr
    assert str(left) in forgot.stderr and "unfinished backup copies" in forgot.stderr, forgot.stderr

    result = crm("backup", tmp_path / "after.db")
    assert result.exit_code == 0, result.stderr
    assert temporaries(tmp_path) == []
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # its -journal or -wal too
    assert PERSON.encode() not in (tmp_path / "after.db").read_bytes()
    again = crm("customer", "forget", "1", "--yes")
    assert again.exit_code == 0 and "unfinished backup" not in again.stderr, again.stderr


def test_a_backup_leaves_temporaries_of_running_backups_and_other_files_alone(crm, conn, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    gone = dead_pid()
    stale = fake_temporary(folder, "old.db", gone)
    # A backup still writing, in a process that is alive (just created its file, not yet locked it).
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = fake_temporary(folder, "running.db", sleeper.pid)
        # A dead pid, but the file is locked: another machine's backup on a shared folder, or a reused pid.
        locked = fake_temporary(folder, "locked.db", dead_pid())
        with open(locked, "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            not_ours = [folder / ".notes.txt.tmp", folder / f".x.db.pid{gone}-abcd1234.tmp.bak",
                        folder / f".y.db.pid{gone}-abcd1234.tmp"]
            for path in not_ours:
                path.write_bytes(b"my own words")  # not an SQLite file: not a crm copy
            result = crm("backup", folder / "new.db")
            assert result.exit_code == 0, result.stderr
            assert not stale.exists()
            assert running.exists() and locked.exists() and all(path.exists() for path in not_ours)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sqlite3.connect(folder / "new.db").execute("PRAGMA quick_check").fetchone()[0] == "ok"
