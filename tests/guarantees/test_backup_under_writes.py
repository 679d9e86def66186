"""`crm backup` while another process writes: each backup is one whole committed state, and the
writer is not held up by it.

The writer is a separate Python process (not a thread: its own SQLite connection in its own
process, as another `crm` command would be) that commits, in a loop, one customer with three
purchases per transaction. Each backup is a real `crm backup` process. For each: the copy passes
PRAGMA integrity_check, holds whole transactions only (three purchases per writer customer, never
one or two), holds a state between the one before the backup started and the one after it ended,
and the writer committed while the backup process ran. The writer does not checkpoint, so its
commits are in the -wal file only: a backup must read through SQLite, not copy the file.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from _processes import query, run_crm

pytestmark = pytest.mark.sqlite_only("crm backup of an SQLite file; a server's backup is pg_dump")

WRITER = """
import sys, time
from pathlib import Path
from crmcli import customers, db, interactions

db_path, ready, stop = (Path(a) for a in sys.argv[1:4])
conn = db.connect(db_path)
# No automatic checkpoint: the writer's commits stay in crm.db-wal, not in crm.db, the hard case
# for a backup (a copy of crm.db's bytes alone would miss them all).
conn.execute("PRAGMA wal_autocheckpoint = 0")
n = 0
ready.touch()
while not stop.exists():
    with db.transaction(conn):
        customer = customers.add(conn, f"Writer {n}")
        for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
            interactions.add(conn, customer, "purchase", at=day, amount="1")
    n += 1
conn.close()
"""
PURCHASES_PER_TRANSACTION = 3
BACKUPS = 4


def writer_customers(path) -> tuple[int, int]:
    """(writer customers, purchases of writer customers) in the database at path."""
    return query(path, "SELECT count(DISTINCT c.id), count(i.id) FROM customers c "
                       "LEFT JOIN interactions i ON i.customer_id = c.id AND i.type = 'purchase' "
                       "WHERE c.name LIKE 'Writer %'")[0]


def test_backups_taken_while_another_process_writes_are_whole_and_do_not_stop_it(isolated_database, tmp_path):
    made = run_crm("demo", "--customers", "30")
    assert made.returncode == 0, made.stderr
    ready, stop = tmp_path / "writer.ready", tmp_path / "writer.stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(isolated_database), str(ready), str(stop)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert writer.poll() is None, "the writer died"
            if time.monotonic() > deadline:  # a hang guard, not a speed claim
                raise TimeoutError("the writer did not start")
            time.sleep(0.01)
        for n in range(BACKUPS):
            target = tmp_path / f"backup-{n}.db"
            before, _ = writer_customers(isolated_database)
            done = run_crm("backup", str(target))
            after, _ = writer_customers(isolated_database)
            assert done.returncode == 0, done.stderr
            assert writer.poll() is None, "the writer died"

            assert query(target, "PRAGMA integrity_check")[0][0] == "ok"
            copied, purchases = writer_customers(target)
            assert purchases == PURCHASES_PER_TRANSACTION * copied, "the backup holds part of a transaction"
            assert before <= copied <= after, (before, copied, after)
            assert after > before, f"the writer made no commit while backup {n} ran ({before} -> {after})"
    finally:
        stop.touch()
        try:
            writer.wait(timeout=30)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    assert writer.returncode == 0
    final, purchases = writer_customers(isolated_database)
    assert purchases == PURCHASES_PER_TRANSACTION * final and final > 0
    assert query(isolated_database, "PRAGMA integrity_check")[0][0] == "ok"
