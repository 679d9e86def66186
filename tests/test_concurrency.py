"""Many crm commands at once on one database: writers queue, readers see whole commits, nothing fails."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _processes import integrity, query, run_crm

PROCESSES = Path(__file__).with_name("_processes.py")
WRITERS = 4
ADDS_PER_WRITER = 250
CUSTOMERS = 50


@pytest.mark.slow
def test_four_writers_and_a_reader_at_once(isolated_database, tmp_path):
    """Four writers and a reader on one database: every command succeeds and every write is kept.

    What it does: `crm demo --customers 50` makes the database. Then five processes start
    together (each signals it is ready; all wait for one go file):

    * four writer processes, each a separate Python process that runs `crm interaction add C
      --type call --note worker-W-NNN` 250 times in a row, in process: the `crm` command tree
      (typer.main.get_command(crmcli.cli.app), built once per process as a `crm` process does),
      its error boundary and exit code, SystemExit caught, stdout and stderr captured. Every
      call opens its own connection and closes it, as a `crm` command does. (A process per
      call would cost about 0.3 s of start-up each: 5 minutes on two cores.)
    * one reader process that, until the writers have all finished, runs real `crm report
      churn --format csv --limit 0` and `crm export interactions` subprocesses in turn.

    Afterwards: all 1,000 adds exited 0 with nothing on stderr (so no "database is locked")
    and printed 1,000 distinct ids; the database holds exactly the 1,000 new interactions,
    each worker's 250 notes all present once; every report and export exited 0 and each
    export printed between the number of interactions before and after the run (a whole
    committed state); PRAGMA integrity_check is ok.
    """
    made = run_crm("demo", "--customers", str(CUSTOMERS))
    assert made.returncode == 0, made.stderr
    before = query(isolated_database, "SELECT count(*) FROM interactions")[0][0]

    go, stop = tmp_path / "go", tmp_path / "stop"
    writers = []
    for worker in range(WRITERS):
        ready = tmp_path / f"writer-{worker}.ready"
        results = tmp_path / f"writer-{worker}.json"
        process = subprocess.Popen([sys.executable, str(PROCESSES), "writer", str(worker), str(ADDS_PER_WRITER),
                                    str(CUSTOMERS), str(ready), str(go), str(results)])
        writers.append((process, ready, results))
    reader_ready, reader_results = tmp_path / "reader.ready", tmp_path / "reader.json"
    reader = subprocess.Popen([sys.executable, str(PROCESSES), "reader", str(reader_ready), str(go), str(stop),
                               str(reader_results)])
    try:
        deadline = time.monotonic() + 60
        while not all(ready.exists() for _, ready, _ in writers) or not reader_ready.exists():
            assert time.monotonic() < deadline, "the processes did not start"
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

    calls = []
    for worker, (_, _, results) in enumerate(writers):
        calls += json.loads(results.read_text())["calls"]
    failed = [c for c in calls if c["exit_code"] != 0 or c["stderr"]]
    assert not failed, f"{len(failed)} of {len(calls)} adds failed, e.g. {failed[:3]}"
    assert len(calls) == WRITERS * ADDS_PER_WRITER
    ids = {int(c["stdout"].strip()) for c in calls}
    assert len(ids) == WRITERS * ADDS_PER_WRITER

    after = query(isolated_database, "SELECT count(*) FROM interactions")[0][0]
    assert after == before + WRITERS * ADDS_PER_WRITER
    stored = query(isolated_database, "SELECT id, note FROM interactions WHERE note LIKE 'worker-%'")
    assert {row[0] for row in stored} == ids
    expected_notes = {f"worker-{w}-{i:03d}" for w in range(WRITERS) for i in range(ADDS_PER_WRITER)}
    assert sorted(row[1] for row in stored) == sorted(expected_notes)  # each exactly once

    runs = json.loads(reader_results.read_text())["runs"]
    failed_reads = [r for r in runs if r["exit_code"] != 0 or r["stderr"]]
    assert not failed_reads, failed_reads[:3]
    for command in ("report", "export"):
        overlapping = [r for r in runs if r["args"][0] == command and r["finished_before_stop"]]
        assert overlapping, f"no `crm {command}` ran while the writers were writing"
    for run in runs:
        if run["args"][0] == "export":
            assert before <= run["rows"] <= after, run
    assert integrity(isolated_database) == "ok"
    print(f"\n{len(calls)} adds by {WRITERS} writers in {writers_seconds:.1f} s "
          f"({len(runs)} reports and exports alongside)")
