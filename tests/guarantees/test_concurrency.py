"""Many crm commands at once on one database: writers queue, readers see whole commits, nothing fails."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _processes import integrity, query, run_crm

PROCESSES = Path(__file__).resolve().parents[1] / "_processes.py"
WRITERS = 4
IMPORTS_PER_WRITER = 25  # at least; on until the reader has run each of its commands once
ROWS_PER_IMPORT = 10  # each import is one transaction of this many rows
CUSTOMERS = 50


@pytest.mark.slow
def test_four_writers_and_a_reader_at_once(isolated_database, tmp_path):
    """Four writers and a reader on one database: every command succeeds and every write is kept,
    and no reader ever sees part of a transaction.

    What it does: `crm demo --customers 50` makes the database. Then five processes start
    together (each signals it is ready; all wait for one go file):

    * four writer processes, each a separate Python process that runs `crm interaction import
      FILE` 25 times in a row (and on, until the reader has run each of its commands once), each
      FILE 10 calls noted worker-W-NNN-KK, so each command is one transaction of 10 rows; in
      process: the `crm` command tree (typer.main.get_command(crmcli.cli.app), built once per
      process as a `crm` process does), its error boundary and exit code, SystemExit caught,
      stdout and stderr captured. Every call opens its own connection and closes it, as a `crm`
      command does. (A process per call would cost about 0.3 s of start-up each.)
    * one reader process that, until the writers have all finished, runs real `crm report
      churn --format csv --limit 0` and `crm export interactions` subprocesses in turn, with
      quick direct reads of the notes between them.

    Afterwards: all the imports (at least 100: 1,000 interactions) exited 0, printed nothing on
    stdout and only their summary line ("10 added") on stderr (so no "database is locked"); the
    database holds exactly their new interactions, each note present once; every report and export exited 0, each export
    printed between the number of interactions before and after the run, and no export or
    direct read saw a writer's transaction with neither 0 nor all 10 of its rows (a torn
    read); PRAGMA integrity_check is ok.
    """
    made = run_crm("demo", "--customers", str(CUSTOMERS))
    assert made.returncode == 0, made.stderr
    before = query(isolated_database, "SELECT count(*) FROM interactions")[0][0]

    go, stop, overlapped = tmp_path / "go", tmp_path / "stop", tmp_path / "overlapped"
    writers = []
    for worker in range(WRITERS):
        ready = tmp_path / f"writer-{worker}.ready"
        results = tmp_path / f"writer-{worker}.json"
        process = subprocess.Popen([sys.executable, str(PROCESSES), "writer", str(worker), str(IMPORTS_PER_WRITER),
                                    str(ROWS_PER_IMPORT), str(CUSTOMERS), str(ready), str(go), str(overlapped),
                                    str(results)])
        writers.append((process, ready, results))
    reader_ready, reader_results = tmp_path / "reader.ready", tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, str(PROCESSES), "reader", str(ROWS_PER_IMPORT), str(reader_ready),
                               str(go), str(overlapped), str(stop), str(reader_results)])
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for _, ready, _ in writers) or not reader_ready.exists():
            if time.monotonic() > deadline:  # a hang guard, not a speed claim
                raise TimeoutError("the processes did not start")
            assert all(p.poll() is None for p, _, _ in writers) and reader.poll() is None, "a process died"
            time.sleep(0.02)
        started = time.monotonic()
        go.touch()
        for process, _, _ in writers:
            assert process.wait(timeout=600) == 0
        writers_seconds = time.monotonic() - started
        stop.touch()
        assert reader.wait(timeout=120) == 0
    finally:
        for process in [reader, *(p for p, _, _ in writers)]:
            if process.poll() is None:
                process.kill()
                process.wait()

    calls, imports = [], []
    for _, _, results in writers:
        calls_of_worker = json.loads(results.read_text())["calls"]
        calls += calls_of_worker
        imports.append(len(calls_of_worker))
    summary = re.compile(rf"^interactions from .*: {ROWS_PER_IMPORT} rows read, {ROWS_PER_IMPORT} added, 0 skipped"
                         r".*, 0 rejected \(batch \d+, [^)]*\)\n$")
    failed = [c for c in calls if c["exit_code"] != 0 or c["stdout"] or not summary.match(c["stderr"])]
    assert not failed, f"{len(failed)} of {len(calls)} imports failed, e.g. {failed[:3]}"
    assert len(calls) >= WRITERS * IMPORTS_PER_WRITER

    after = query(isolated_database, "SELECT count(*) FROM interactions")[0][0]
    assert after == before + len(calls) * ROWS_PER_IMPORT
    stored = query(isolated_database, "SELECT id, note FROM interactions WHERE note LIKE 'worker-%'")
    expected_notes = [f"worker-{w}-{i:03d}-{k:02d}" for w, count in enumerate(imports) for i in range(count)
                      for k in range(ROWS_PER_IMPORT)]
    assert sorted(row[1] for row in stored) == sorted(expected_notes)  # each exactly once

    reads = json.loads(reader_results.read_text())
    runs = reads["runs"]
    # A report says which fit it used, and that it could not store one while the writers wrote: notes only.
    failed_reads = [r for r in runs if r["exit_code"] != 0
                    or any(not line.startswith("note: ") for line in r["stderr"].splitlines())]
    assert not failed_reads, failed_reads[:3]
    for command in ("report", "export"):
        overlapping = [r for r in runs if r["args"][0] == command and r["finished_before_stop"]]
        assert overlapping, f"no `crm {command}` ran while the writers were writing"
    exports = [run for run in runs if run["args"][0] == "export"]
    for run in exports:
        assert before <= run["rows"] <= after, run
        assert run["torn"] == [], f"an export saw part of a transaction: {run['torn'][:5]}"
    assert reads["direct_torn"] == [], f"a read saw part of a transaction: {reads['direct_torn'][:5]}"
    # The reads overlapped the writes: some saw a state between the first and the last commit.
    assert any(before < run["rows"] < after for run in exports) or reads["direct_reads"] > 0
    assert integrity(isolated_database) == "ok"
    print(f"\n{len(calls)} imports of {ROWS_PER_IMPORT} rows by {WRITERS} writers in {writers_seconds:.1f} s "
          f"({len(runs)} reports and exports and {reads['direct_reads']} direct reads alongside, none torn)")
