"""A crm command killed with SIGKILL at any moment leaves the database as before it or as after it.

Each test runs real `crm` processes (`python -m crmcli`, CRM_DB from the autouse fixture),
each in its own session, and kills the whole process group (the import's worker processes
too). Kill points are fractions of the measured duration of an uninterrupted run of the same
command on the same data. Whatever the timing, the database must then hold none or all of the
command's change, pass PRAGMA integrity_check, and serve the next command. So that the tests
cannot pass without ever interrupting anything, each asserts that at least one kill landed
mid-way: the process was still running, its transaction had already written at least 1 MiB
to the -wal file (on a server, to its write-ahead log), and afterwards none of its change is
there. (If no kill did, up to four
more are tried, each halfway between the latest kill that came too early and the earliest
that came too late, before the test fails.)
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from _processes import integrity, kill_group, query, run_crm, start_crm, wal_size
from helpers import copy_database, database_beside, empty_database

from crmcli import customers, db, interactions, migrations

KILL_FRACTIONS = (0.1, 0.3, 0.6, 0.9)
AFTER_FINISH = 1.2  # a kill just after the uninterrupted run's duration (plus 0.3 s)
EXTRA_KILLS = 4  # tried only if no kill above landed mid-way, each halfway between too early and too late
MID_WAY_WAL_BYTES = 1 << 20

IMPORT_CUSTOMERS = 50
IMPORT_ROWS = 200_000
MERGED_INTERACTIONS = 250_000
DEMO_CUSTOMERS = 6_000


@dataclass
class Trial:
    delay: float
    alive: bool  # the command was still running when the SIGKILL was sent
    wal_bytes: int  # size of the -wal file at that moment
    outcome: str = ""  # "none" or "all" of the command's change

    @property
    def mid_way(self) -> bool:
        return self.alive and self.wal_bytes >= MID_WAY_WAL_BYTES and self.outcome == "none"

    def __str__(self) -> str:
        return (f"kill at {self.delay:.2f} s: {'running' if self.alive else 'finished'}, "
                f"wal {self.wal_bytes / 2**20:.1f} MiB -> {self.outcome}")


def on_server(path) -> bool:
    return str(path).startswith("postgresql://")


def schema(path) -> list[tuple]:
    """Every table's columns, index and trigger, as the engine describes them."""
    if on_server(path):
        return query(path, "SELECT 'column', table_name || '.' || column_name, data_type "
                           "FROM information_schema.columns WHERE table_schema = current_schema() UNION ALL "
                           "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                           "UNION ALL SELECT 'trigger', tgname, pg_get_triggerdef(oid) FROM pg_trigger "
                           "WHERE NOT tgisinternal ORDER BY 1, 2")
    return query(path, "SELECT type, name, sql FROM sqlite_master ORDER BY type, name")


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def kill_trials(args: list[str], *, reset: Callable[[], None], check: Callable[[Trial], str], db_path: Path,
                log_dir: Path) -> tuple[float, list[Trial]]:
    """Run `crm ARGS` once uninterrupted (timed), then kill it at each kill point.

    Before each run `reset()` restores the starting database; after each kill `check(trial)`
    asserts the invariants and returns "none" or "all".
    """
    log_dir.mkdir(exist_ok=True)
    reset()
    started = time.monotonic()
    proc = start_crm(args, log_dir=log_dir, name="uninterrupted")
    assert proc.wait(timeout=300) == 0, (log_dir / "uninterrupted.err").read_text()
    seconds = time.monotonic() - started
    assert check(Trial(seconds, alive=False, wal_bytes=0)) == "all"

    def trial(delay: float, name: str) -> Trial:
        reset()
        wal_at_start = wal_size(db_path)
        proc = start_crm(args, log_dir=log_dir, name=name)
        time.sleep(delay)
        alive = proc.poll() is None
        wal_bytes = wal_size(db_path) - wal_at_start
        kill_group(proc)
        if not alive:
            assert proc.returncode == 0, (log_dir / f"{name}.err").read_text()
        result = Trial(delay, alive, wal_bytes)
        result.outcome = check(result)
        assert result.outcome in ("none", "all")
        if not alive:
            assert result.outcome == "all", f"the command finished but its change is not there ({result})"
        return result

    trials = [trial(fraction * seconds, f"kill-{fraction}") for fraction in KILL_FRACTIONS]
    trials.append(trial(AFTER_FINISH * seconds + 0.3, "kill-after-finish"))
    for attempt in range(EXTRA_KILLS):
        if any(t.mid_way for t in trials):
            break
        # Halfway between the latest kill that came too early and the earliest that came too late.
        too_early = max((t.delay for t in trials if t.outcome == "none"), default=0.0)
        too_late = min((t.delay for t in trials if t.outcome == "all"), default=AFTER_FINISH * seconds)
        trials.append(trial((too_early + too_late) / 2, f"kill-extra-{attempt}"))
    report = f"uninterrupted run {seconds:.2f} s; " + "; ".join(map(str, trials))
    print(f"\ncrm {' '.join(args)}: {report}")
    assert any(t.mid_way for t in trials), "no kill interrupted the command mid-way: " + report
    return seconds, trials


def assert_a_write_works(db_path: Path, customer_id: int) -> None:
    """After the kill, a small write works and is kept."""
    before = query(db_path, "SELECT count(*) FROM interactions")[0][0]
    added = run_crm("interaction", "add", str(customer_id), "--type", "call", "--note", "after the kill")
    assert added.returncode == 0, added.stderr
    assert query(db_path, "SELECT count(*) FROM interactions")[0][0] == before + 1


def write_interactions_csv(path: Path, rows: int, customers_count: int) -> None:
    rnd = random.Random(7)
    with open(path, "w", newline="") as f:
        f.write("customer_id,type,at,amount,by,note,external_id\n")
        for i in range(rows):
            f.write(f"{rnd.randint(1, customers_count)},purchase,2024-{rnd.randint(1, 12):02d}-"
                    f"{rnd.randint(1, 28):02d},{rnd.randint(100, 99_999) / 100:.2f},Linh,,K-{i}\n")


@pytest.mark.slow
def test_killed_import_leaves_none_or_all_of_the_batch(isolated_database, tmp_path):
    """`crm interaction import` of 200,000 rows, killed at 10/30/60/90% of its measured duration
    and just after it: each time no row or every row of the batch, its import_batches row with
    it, the schema intact (the import drops and rebuilds indexes inside its transaction), and
    the next commands work."""
    base = database_beside(isolated_database, "base")
    made = run_crm("--db", str(base), "demo", "--customers", str(IMPORT_CUSTOMERS))
    assert made.returncode == 0, made.stderr
    base_interactions = query(base, "SELECT count(*) FROM interactions")[0][0]
    base_schema = schema(base)
    source = tmp_path / "receipts.csv"
    write_interactions_csv(source, IMPORT_ROWS, IMPORT_CUSTOMERS)

    def check(trial: Trial) -> str:
        listed = run_crm("customer", "list", "--format", "csv")  # the first command after the kill
        assert listed.returncode == 0, listed.stderr
        assert integrity(isolated_database) == "ok"
        assert schema(isolated_database) == base_schema
        batches = query(isolated_database, "SELECT added, finished_at FROM import_batches")
        count = query(isolated_database, "SELECT count(*) FROM interactions")[0][0]
        in_batch = query(isolated_database, "SELECT count(*) FROM interactions WHERE batch_id IS NOT NULL")[0][0]
        if not batches:
            assert (count, in_batch) == (base_interactions, 0), trial
            outcome = "none"
        else:
            assert len(batches) == 1 and batches[0][0] == IMPORT_ROWS and batches[0][1], (batches, trial)
            assert (count, in_batch) == (base_interactions + IMPORT_ROWS, IMPORT_ROWS), trial
            outcome = "all"
        assert len(csv_rows(listed.stdout)) == IMPORT_CUSTOMERS
        assert_a_write_works(isolated_database, 1)
        return outcome

    kill_trials(["interaction", "import", str(source)], reset=lambda: copy_database(base, isolated_database),
                check=check, db_path=isolated_database, log_dir=tmp_path / "logs")


@pytest.mark.slow
def test_killed_merge_leaves_none_or_all_of_it(isolated_database, tmp_path):
    """`crm customer merge KEEP DUP --yes` of a duplicate with 250,000 interactions, killed at
    10/30/60/90% of its measured duration and just after it: each time either DUP is still
    there with all its interactions and tag, or DUP is gone and KEEP has them all."""
    base = database_beside(isolated_database, "base")
    conn = db.connect(base)
    with db.transaction(conn):
        keep = customers.add(conn, "Keep Person", email="keep@example.com")
        dup = customers.add(conn, "Dup Person", email="dup@example.com", tags=["vip"])
        # The summary's triggers set aside, as a bulk import does: on a server each row's trigger would
        # make one more version of the one customer's summary row in this one transaction.
        aside = interactions.SummaryAside(conn)
        conn.executemany(
            "INSERT INTO interactions (customer_id, type, at, amount_cents, created_at) "
            "VALUES (?, 'purchase', ?, ?, '2024-12-31T00:00:00')",
            ((dup, f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}", i) for i in range(MERGED_INTERACTIONS)))
        aside.touch_ids([dup])
        aside.restore()
    conn.close()

    def check(trial: Trial) -> str:
        listed = run_crm("customer", "list", "--format", "csv")
        assert listed.returncode == 0, listed.stderr
        assert integrity(isolated_database) == "ok"
        ids = {int(row["id"]) for row in csv_rows(listed.stdout)}
        held = dict(query(isolated_database, "SELECT customer_id, count(*) FROM interactions GROUP BY customer_id"))
        tags = query(isolated_database, "SELECT customer_id, tag FROM customer_tags")
        if dup in ids:
            assert (ids, held, tags) == ({keep, dup}, {dup: MERGED_INTERACTIONS}, [(dup, "vip")]), trial
            outcome = "none"
        else:
            assert (ids, held, tags) == ({keep}, {keep: MERGED_INTERACTIONS}, [(keep, "vip")]), trial
            outcome = "all"
        assert_a_write_works(isolated_database, keep)
        return outcome

    kill_trials(["customer", "merge", str(keep), str(dup), "--yes"],
                reset=lambda: copy_database(base, isolated_database),
                check=check, db_path=isolated_database, log_dir=tmp_path / "logs")


DEMO_TABLES = ("customers", "customer_tags", "interactions", "feedback", "followups", "targets", "customer_history")


def table_counts(path) -> dict[str, int] | None:
    """Rows per table of the demo, or None when the database has no schema yet."""
    if on_server(path):
        tables = {row[0] for row in query(path, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")}
        version = query(path, "SELECT max(version) FROM crm_schema")[0][0] if "crm_schema" in tables else 0
    elif not path.exists():
        return None
    else:
        version = query(path, "PRAGMA user_version")[0][0]
        tables = {row[0] for row in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    if version == 0:
        assert not tables, "tables without a schema version: a migration was half-applied"
        return None
    assert version == migrations.latest_version()
    return {table: query(path, f"SELECT count(*) FROM {table}")[0][0] for table in DEMO_TABLES}


@pytest.mark.slow
def test_killed_demo_leaves_an_empty_database_or_the_whole_demo(isolated_database, tmp_path):
    """`crm demo --customers 6000` into a new database, killed at 10/30/60/90% of its measured
    duration and just after it: each time the database has no customers (or no schema yet) or
    exactly the whole demo. After an interrupted demo the same command, without --force, makes
    the whole demo; after a finished one it is refused with a message naming --force."""
    args = ["demo", "--customers", str(DEMO_CUSTOMERS)]
    full: dict[str, int] = {}
    rerun_done = []

    def check(trial: Trial) -> str:
        listed = run_crm("customer", "list", "--format", "csv")  # the first command after the kill
        if not on_server(isolated_database) and not isolated_database.exists():
            # killed before it made the file: a read creates none (a server's empty database it makes crm's)
            assert listed.returncode == 3 and "no database at" in listed.stderr, listed.stderr
            assert run_crm("init").returncode == 0
            listed = run_crm("customer", "list", "--format", "csv")
        assert listed.returncode == 0, listed.stderr
        assert integrity(isolated_database) == "ok"
        counts = table_counts(isolated_database)
        if not full:  # the uninterrupted run
            full.update(counts)
            assert full["customers"] == DEMO_CUSTOMERS and full["interactions"] > DEMO_CUSTOMERS
        if counts == full:
            assert len(csv_rows(listed.stdout)) == DEMO_CUSTOMERS
            again = run_crm(*args)
            assert again.returncode == 1 and "--force" in again.stderr, again.stderr
            assert table_counts(isolated_database) == full
            return "all"
        assert counts == {table: 0 for table in DEMO_TABLES}, (counts, trial)
        if not rerun_done:  # what a user does after an interrupted demo: run it again (slow: only once)
            again = run_crm(*args)
            assert again.returncode == 0, again.stderr
            assert table_counts(isolated_database) == full
            rerun_done.append(trial)
        return "none"

    kill_trials(args, reset=lambda: empty_database(isolated_database), check=check, db_path=isolated_database,
                log_dir=tmp_path / "logs")
    assert rerun_done


@pytest.mark.slow
@pytest.mark.sqlite_only("SQLite's -wal file; a server's write-ahead log is the server's own")
def test_wal_left_by_a_kill_is_recovered(isolated_database, tmp_path):
    """Commits that exist only in the -wal file when every process is SIGKILLed are recovered by
    the next command, and the uncommitted pages of a killed import in the same -wal are not.

    A helper process holds a read transaction open from the start, so no checkpoint can copy
    the later commits into the database file. Then: three real `crm` commands commit; an import
    is started and SIGKILLed once it has written 2 MiB more to the -wal; the helper is SIGKILLed.
    A copy of the database file without its -wal lacks the three commits (they were only in the
    -wal); the next `crm` command shows them, and the import is absent.
    """
    made = run_crm("demo", "--customers", str(IMPORT_CUSTOMERS))
    assert made.returncode == 0, made.stderr
    assert not Path(f"{isolated_database}-wal").exists()
    before = query(isolated_database, "SELECT count(*) FROM interactions")[0][0]
    source = tmp_path / "receipts.csv"
    write_interactions_csv(source, IMPORT_ROWS, IMPORT_CUSTOMERS)
    log_dir = tmp_path / "logs"
    log_dir.mkdir()

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"conn = sqlite3.connect({str(isolated_database)!r}, isolation_level=None)\n"
         "conn.execute('BEGIN'); conn.execute('SELECT count(*) FROM customers').fetchone()\n"
         "print('reading', flush=True); time.sleep(600)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    importer = None
    try:
        assert holder.stdout.readline() == "reading\n"
        added = run_crm("customer", "add", "Committed Before Kill", "--email", "committed@example.com")
        assert added.returncode == 0, added.stderr
        customer_id = int(added.stdout)
        for i in range(2):
            done = run_crm("interaction", "add", str(customer_id), "--type", "call", "--note", f"committed {i}")
            assert done.returncode == 0, done.stderr
        committed_wal = wal_size(isolated_database)
        assert committed_wal > 0

        importer = start_crm(["interaction", "import", str(source)], log_dir=log_dir, name="import")
        deadline = time.monotonic() + 120
        while wal_size(isolated_database) < committed_wal + 2 * MID_WAY_WAL_BYTES:
            assert importer.poll() is None, "the import ended before it could be killed"
            if time.monotonic() > deadline:  # a hang guard, not a speed claim
                raise TimeoutError("gave up waiting for the other process")
            time.sleep(0.01)
        kill_group(importer)
        assert importer.returncode == -9
    finally:
        if importer is not None and importer.returncode is None:
            kill_group(importer)
        kill_group(holder)

    # The database file alone, without the -wal, is still the state before the three commits.
    file_only = tmp_path / "file-only.db"
    shutil.copyfile(isolated_database, file_only)
    assert query(file_only, "SELECT count(*) FROM customers WHERE name = 'Committed Before Kill'")[0][0] == 0
    assert wal_size(isolated_database) > committed_wal

    listed = run_crm("customer", "list", "--format", "csv", "--search", "committed")
    assert listed.returncode == 0, listed.stderr
    assert [row["name"] for row in csv_rows(listed.stdout)] == ["Committed Before Kill"]
    assert integrity(isolated_database) == "ok"
    notes = query(isolated_database, "SELECT note FROM interactions WHERE customer_id = ? ORDER BY note",
                  (customer_id,))
    assert notes == [("committed 0",), ("committed 1",)]
    assert query(isolated_database, "SELECT count(*) FROM interactions")[0][0] == before + 2
    assert query(isolated_database, "SELECT count(*) FROM import_batches")[0][0] == 0
    # Once nothing holds the database open, the recovered commits are in the file itself.
    assert not Path(f"{isolated_database}-wal").exists()
    empty_database(file_only)
    shutil.copyfile(isolated_database, file_only)
    assert query(file_only, "SELECT count(*) FROM customers WHERE name = 'Committed Before Kill'")[0][0] == 1
