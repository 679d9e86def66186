"""`crm restore` never loses data: each kept copy has a name of its own, nothing another process commits
during a restore falls between the kept copy and the restored data, and any valid backup restores
(whatever its page size)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import db_dump, freeze

from crmcli import db

pytestmark = pytest.mark.sqlite_only("crm restore replaces an SQLite file; a server's is pg_restore")

TESTS = Path(__file__).resolve().parent.parent


def names(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT name FROM customers")}
    finally:
        conn.close()


def fill(path: Path, count: int, *, prefix: str = "Customer", note_bytes: int = 0) -> None:
    """count customers (with notes of note_bytes random hex, to make the file big), then close."""
    conn = db.connect(path)
    try:
        with db.transaction(conn):
            conn.executemany(
                "INSERT INTO customers (name, note, created_at, updated_at) VALUES (?, ?, '2024-01-01', '2024-01-01')",
                [(f"{prefix} {n}", os.urandom(note_bytes // 2).hex()) for n in range(count)])
    finally:
        conn.close()


def test_two_restores_in_the_same_second_keep_both_copies_and_never_overwrite(crm, isolated_database, tmp_path,
                                                                              monkeypatch):
    freeze(monkeypatch)  # every restore below happens at 2024-06-15T12:00:00
    backup = tmp_path / "b.db"
    fill(isolated_database, 3)
    assert crm("backup", backup).exit_code == 0
    # Someone's file already has the first name: it is not a copy of ours and must survive.
    squatter = tmp_path / "crm.db.before-restore-20240615-120000"
    squatter.write_bytes(b"precious")

    states = []
    for n in range(3):
        assert crm("customer", "add", f"Added before restore {n}").exit_code == 0
        states.append(db_dump(isolated_database))
        result = crm("restore", backup, "--yes")
        assert result.exit_code == 0, result.stderr

    kept = sorted(tmp_path.glob("crm.db.before-restore-*"), key=lambda p: p.stat().st_mtime_ns)
    assert squatter.read_bytes() == b"precious"
    copies = [p for p in kept if p != squatter]
    assert [p.name for p in copies] == [f"crm.db.before-restore-20240615-120000-{n}" for n in (2, 3, 4)]
    for copy, before in zip(copies, states, strict=True):
        assert db_dump(copy) == before  # each kept copy is the state just before its own restore
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600


# A crm process writing in a loop: `crm customer add writer-N` (the real command tree, in this process,
# each call opening and closing its own connection as `crm` does) until STOP exists. Every call's exit
# code and stderr goes to RESULTS as one JSON line, written after the call returned.
WRITER = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from _processes import invoke_in_process
results, ready, stop = Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
invoke_in_process(["--version"])
ready.touch()
with results.open("a") as out:
    n = 0
    while not stop.exists():
        call = invoke_in_process(["customer", "add", f"writer-{n}"])
        out.write(json.dumps({"name": f"writer-{n}", "exit_code": call["exit_code"], "stderr": call["stderr"],
                              "at": time.monotonic()}) + "\\n")
        out.flush()
        n += 1
"""


@pytest.mark.slow
def test_restore_while_another_process_writes_loses_no_committed_write(crm, isolated_database, tmp_path):
    # Big enough that copying the current database aside takes a while (the window writes used to fall into).
    fill(isolated_database, 1500, note_bytes=8000)
    backup = tmp_path / "b.db"
    assert crm("backup", backup).exit_code == 0
    results, ready, stop = tmp_path / "writer.jsonl", tmp_path / "ready", tmp_path / "stop"
    with open(tmp_path / "writer.err", "wb") as errors:  # a file, not a pipe nobody reads
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(TESTS), str(results), str(ready), str(stop)],
                                  env=os.environ.copy(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=errors)
    try:
        deadline = time.monotonic() + 60
        while not (results.exists() and results.read_text().count("\n") >= 5):
            assert writer.poll() is None, (tmp_path / "writer.err").read_text()
            if time.monotonic() > deadline:  # a hang guard, not a speed claim
                raise TimeoutError("the writer never got going")
            time.sleep(0.01)
        started = time.monotonic()
        result = crm("restore", backup, "--yes")
        finished = time.monotonic()
        assert result.exit_code == 0, result.stderr
        time.sleep(0.5)  # the writer goes on after the restore
    finally:
        stop.touch()
        writer.wait(timeout=60)
    assert writer.returncode == 0, (tmp_path / "writer.err").read_text()

    calls = [json.loads(line) for line in results.read_text().splitlines()]
    for call in calls:  # success, or a clean busy error: never a crash
        assert call["exit_code"] == 0 or (call["exit_code"] == 3 and "busy" in call["stderr"]), call
        assert "Traceback" not in call["stderr"]
    committed = {call["name"] for call in calls if call["exit_code"] == 0}
    kept = next(tmp_path.glob("crm.db.before-restore-*"))
    in_kept, in_restored = names(kept) & committed, names(isolated_database) & committed
    lost = committed - in_kept - in_restored
    assert not lost, f"{len(lost)} committed writes are neither in the kept copy nor in the restored database"
    assert not in_kept & in_restored
    # The writer really ran on both sides of the restore.
    assert in_kept and in_restored
    assert any(call["at"] < started for call in calls) and any(call["at"] > finished for call in calls)
    check = sqlite3.connect(isolated_database)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


def test_restore_a_backup_with_another_page_size(crm, isolated_database, tmp_path):
    fill(isolated_database, 20, prefix="Current")
    backup = tmp_path / "big-pages.db"
    fill(backup, 40, prefix="Backed up")
    raw = sqlite3.connect(backup, isolation_level=None)
    raw.execute("PRAGMA journal_mode = DELETE")
    raw.execute("PRAGMA page_size = 8192")
    raw.execute("VACUUM")
    assert raw.execute("PRAGMA page_size").fetchone()[0] == 8192
    raw.close()
    expected = db_dump(backup)

    result = crm("restore", backup, "--yes")
    assert result.exit_code == 0, result.stderr
    assert "40 customers" in result.stderr
    assert db_dump(isolated_database) == expected
    conn = db.connect(isolated_database)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    assert names(next(tmp_path.glob("crm.db.before-restore-*"))) == {f"Current {n}" for n in range(20)}
    # No temporary copy of the conversion is left behind.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
