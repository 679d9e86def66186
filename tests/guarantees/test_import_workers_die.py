"""An import's worker processes end with it (issue 11, item 13).

`crm interaction import` of a big file parses it in forked worker processes. They wait for work
on a pipe whose writing end they hold themselves, so they never notice the main process going:
killed with SIGKILL, it used to leave them waiting for ever, holding the database's deleted -wal.
These tests run a real import big enough to have its workers busy, signal ONLY the main process
(or, as a terminal's Ctrl-C or a service manager does, the whole group), and check that within a
few seconds none of its workers is left, nothing reached stderr but crm's one line, and the
database is as before.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _processes import integrity, query, run_crm, start_crm
from helpers import db_dump

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
                                 reason="import workers run on Linux with 2 CPUs or more")]

CUSTOMERS = 50
ROWS = 300_000  # about 15 MB: several seconds of work for the workers
WORKERS_GONE_WITHIN = 5.0


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after `(comm)`: state, ppid, ..., starttime at index 19; None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def children(pid: int) -> dict[int, str]:
    """Live children of pid: {child pid: its start time} (the start time tells a reused pid apart)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields and int(fields[1]) == pid and fields[0] not in "ZX":
                found[int(entry.name)] = fields[19]
    return found


def alive(workers: dict[int, str]) -> list[int]:
    """The workers still running: same pid, same start time, not a zombie."""
    left = []
    for pid, started in workers.items():
        fields = _stat(pid)
        if fields and fields[19] == started and fields[0] not in "ZX":
            left.append(pid)
    return left


@pytest.fixture
def big_import(isolated_database, tmp_path):
    """A database with CUSTOMERS customers, and a big purchases file naming them."""
    names = tmp_path / "customers.csv"
    names.write_text("name\n" + "".join(f"Customer {n}\n" for n in range(CUSTOMERS)), encoding="utf-8")
    made = run_crm("customer", "import", str(names))
    assert made.returncode == 0, made.stderr
    rnd = random.Random(13)
    source = tmp_path / "receipts.csv"
    with open(source, "w", newline="", encoding="utf-8") as f:
        f.write("customer_id,type,at,amount,by,note,external_id\n")
        for i in range(ROWS):
            f.write(f"{rnd.randint(1, CUSTOMERS)},purchase,2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d},"
                    f"{rnd.randint(100, 99_999) / 100:.2f},Linh,,K-{i}\n")
    return source


def start_import_with_workers(source: Path, log_dir: Path) -> tuple[subprocess.Popen, dict[int, str]]:
    """Start the import and wait until its worker processes are running."""
    log_dir.mkdir(exist_ok=True)
    proc = start_crm(["interaction", "import", str(source)], log_dir=log_dir, name="import")
    deadline = time.monotonic() + 60
    workers: dict[int, str] = {}
    while len(workers) < 2:
        if proc.poll() is not None:
            raise AssertionError(f"the import ended before its workers were seen: {proc.returncode}, "
                                 + (log_dir / "import.err").read_text())
        if time.monotonic() > deadline:
            raise AssertionError(f"no worker processes appeared: {workers}")
        workers = children(proc.pid)
        time.sleep(0.02)
    time.sleep(0.3)  # let them get busy with blocks
    assert proc.poll() is None, "the import finished before it could be signalled; make ROWS bigger"
    return proc, workers


def assert_workers_gone(workers: dict[int, str]) -> None:
    deadline = time.monotonic() + WORKERS_GONE_WITHIN
    try:
        while alive(workers):
            if time.monotonic() > deadline:  # a hang guard, not a speed claim
                raise TimeoutError(f"worker processes {alive(workers)} outlived the import")
            time.sleep(0.05)
    finally:
        for pid in alive(workers):  # so that a failing run leaves nothing behind
            os.kill(pid, signal.SIGKILL)


def assert_database_as_before(db_path: Path, before: str) -> None:
    assert integrity(db_path) == "ok"
    assert db_dump(db_path) == before
    assert query(db_path, "SELECT count(*) FROM interactions") == [(0,)]
    added = run_crm("interaction", "add", "1", "--type", "call", "--note", "after the import")
    assert added.returncode == 0, added.stderr


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_when_only_the_main_process_is_signalled(big_import, isolated_database, tmp_path, sig):
    before = db_dump(isolated_database)
    proc, workers = start_import_with_workers(big_import, tmp_path / "logs")
    os.kill(proc.pid, sig)
    code = proc.wait(timeout=30)
    assert_workers_gone(workers)
    stderr = (tmp_path / "logs" / "import.err").read_text()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:  # handled: the transaction rolled back, one line, the documented exit code
        assert code == 143, stderr
        assert stderr.startswith("crm: error: terminated"), stderr
        assert "Traceback" not in stderr
    assert_database_as_before(isolated_database, before)


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_whole_group_signalled_ends_with_one_line_and_no_worker_left(big_import, isolated_database, tmp_path,
                                                                         sig, code):
    """Ctrl-C on a terminal signals every process of the group; so does a service manager's stop."""
    before = db_dump(isolated_database)
    proc, workers = start_import_with_workers(big_import, tmp_path / "logs")
    os.killpg(proc.pid, sig)
    assert proc.wait(timeout=30) == code
    assert_workers_gone(workers)
    stderr = (tmp_path / "logs" / "import.err").read_text()
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert_database_as_before(isolated_database, before)


def test_a_worker_killed_alone_ends_the_import_with_one_line_and_nothing_imported(big_import, isolated_database,
                                                                                    tmp_path):
    """A worker killed from outside (the OOM killer, a hand's kill -9), maybe part-way through writing its
    result: the import must see it go, not wait for the rest of a message for ever (seen with a shared pipe)."""
    before = db_dump(isolated_database)
    proc, workers = start_import_with_workers(big_import, tmp_path / "logs")
    victim = next(iter(workers))
    os.kill(victim, signal.SIGKILL)
    assert proc.wait(timeout=30) == 1
    assert_workers_gone(workers)
    stderr = (tmp_path / "logs" / "import.err").read_text()
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith(f"crm: error: an import worker process (pid {victim}) stopped before it finished"), stderr
    assert_database_as_before(isolated_database, before)


_ORPHAN = """
import os, signal, sys, time
from crmcli.transfer.imports import workers
if sys.argv[1] == "watch":
    workers._killed_with_parent = lambda: False  # as on a system without prctl: the watching thread
child = os.fork()
if child == 0:
    for fd in (1, 2):  # let go of the test's pipes: it reads them to their end
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
    workers._worker_started(os.getppid() if sys.argv[2] == "parent" else 1)  # 1: the parent already went
    time.sleep(600)
    os._exit(0)
print(child, flush=True)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("how, parent", [("prctl", "parent"), ("watch", "parent"), ("prctl", "gone")])
def test_a_worker_ends_when_its_parent_is_killed_by_prctl_or_by_its_watch(how, parent):
    done = subprocess.run([sys.executable, "-c", _ORPHAN, how, parent], capture_output=True, text=True, timeout=30)
    assert done.returncode == -signal.SIGKILL, done.stderr
    child = int(done.stdout)
    fields = _stat(child)
    assert_workers_gone({child: fields[19]} if fields else {})
