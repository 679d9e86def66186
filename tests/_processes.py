"""Helpers for the tests that run crm in real processes: concurrent writers, and SIGKILLed commands.

Run as a script it is one of the processes of tests/guarantees/test_concurrency.py:

    python tests/_processes.py writer WORKER COUNT ROWS CUSTOMERS READY GO OVERLAPPED RESULTS
        Import crmcli, touch READY, wait for GO to exist, then run the `crm` command
        tree (typer.main.get_command(crmcli.cli.app), built once) in this process, COUNT times
        and on until OVERLAPPED exists: `crm interaction import FILE`, FILE holding ROWS calls
        noted worker-W-NNN-KK (K = 0..ROWS-1), so each call is one transaction of ROWS rows.
        Each call opens and closes its own connection, as a `crm` command does. Writes RESULTS
        (JSON): per call, the exit code, stdout and stderr.

    python tests/_processes.py reader ROWS READY GO OVERLAPPED STOP RESULTS
        Touch READY, wait for GO, then until STOP exists run real `crm export interactions`
        and `crm report churn` subprocesses in turn (touching OVERLAPPED once both have run),
        and meanwhile, in a thread, read the interactions' notes straight from the file again
        and again. Writes RESULTS (JSON): per
        command, its arguments, exit code, stderr, the number of CSV rows it printed and the
        writers' transactions it saw only part of (a note group worker-W-NNN with neither 0 nor
        ROWS rows); and the same for the direct reads.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

CRM = [sys.executable, "-m", "crmcli"]


# --- running crm, and killing it ------------------------------------------------------------

def on_a_pty(args: list[str], env: dict[str, str], *, stream: str = "stdout", width: int | None = None,
             command: list[str] | None = None) -> tuple[int, str, str]:
    """Run crm with `stream` (stdout or stderr) on a real pseudo-terminal, `width` columns wide if given,
    and the other stream on a pipe. Returns the exit code, what the terminal got and what the pipe got."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    if width is not None:
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, width, 0, 0))
    on_terminal = {stream: follower}
    proc = subprocess.Popen([*(command or CRM), *args], stdin=subprocess.DEVNULL, env=env, close_fds=True,
                            stdout=on_terminal.get("stdout", subprocess.PIPE),
                            stderr=on_terminal.get("stderr", subprocess.PIPE))
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    out, err = proc.communicate(timeout=120)
    piped = (err if stream == "stdout" else out) or b""
    return (proc.returncode, b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n"),
            piped.decode("utf-8", "replace"))


def start_crm(args: list[str], *, log_dir: Path, name: str) -> subprocess.Popen:
    """Start `crm ARGS` in its own session (so its worker processes can be killed with it).

    stdout and stderr go to files in log_dir: a pipe nobody reads could block it.
    """
    # The child has its own copies of the two files; ours close when Popen returns.
    with open(log_dir / f"{name}.out", "wb") as out, open(log_dir / f"{name}.err", "wb") as err:
        return subprocess.Popen([*CRM, *args], env=os.environ.copy(), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=_ctrl_c_as_on_a_terminal)


def _ctrl_c_as_on_a_terminal() -> None:
    """A test run started in the background of a script (`cmd &` without job control) has SIGINT
    ignored, and Python then never raises KeyboardInterrupt: give the child SIGINT as a terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_crm(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*CRM, *args], env=os.environ.copy(), input=input, capture_output=True, text=True,
                          timeout=timeout)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group pgid, from /proc (without /proc: any process)."""
    if not Path("/proc/self/stat").exists():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def kill_group(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGKILL the process and everything in its session's process group; wait until all are gone."""
    with contextlib.suppress(ProcessLookupError):  # the whole group had already exited
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    while _group_members(proc.pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of group {proc.pid} still alive after SIGKILL")
        time.sleep(0.02)


def wal_size(db_path: Path | str) -> int:
    """Bytes in the database's -wal file (0 when there is none). On a server: the position in its
    write-ahead log, in bytes (what was written meanwhile is the difference of two of them)."""
    if str(db_path).startswith("postgresql://"):
        return int(query(db_path, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")[0][0])
    try:
        return os.path.getsize(f"{db_path}-wal")
    except FileNotFoundError:
        return 0


def integrity(db_path: Path | str) -> str:
    """SQLite's integrity_check of the file. A server keeps its own pages whole; what a killed client
    could leave there is a transaction still open, holding its locks: "ok" when there is none."""
    if str(db_path).startswith("postgresql://"):
        left = query(db_path, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                              "AND state LIKE 'idle in transaction%'")[0][0]
        return "ok" if left == 0 else f"{left} transactions left open"
    conn = sqlite3.connect(db_path)
    try:
        return "; ".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def query(db_path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query, read as another program would (helpers.other_program: no code of crm's)."""
    from helpers import other_program

    conn = other_program(db_path)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


# --- the processes of the concurrency test --------------------------------------------------

def _wait_for(path: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {path}")
        time.sleep(0.01)


_COMMAND = None


def invoke_in_process(args: list[str]) -> dict:
    """Run `crm ARGS` in this process: the command tree of the `crm` entry point, its error boundary
    and exit codes, as the shell would run it.

    Typer builds the click command tree from the annotations at every start (about 80 ms, most of
    an in-process call); a `crm` process does that once, and so does this process.
    """
    global _COMMAND
    if _COMMAND is None:
        import typer.main

        from crmcli.cli import app

        _COMMAND = typer.main.get_command(app)
    stdout, stderr = io.StringIO(), io.StringIO()
    exit_code = 0
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            _COMMAND.main(args=args, prog_name="crm")
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # a crash: record it as a failure with its traceback
        exit_code = -1
        stderr.write(traceback.format_exc())
    return {"args": args, "exit_code": exit_code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def _calls_file(results: Path, worker: int, i: int, rows: int, customers: int, count: int) -> Path:
    path = results.with_name(f"{results.stem}-{i:04d}.csv")
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["customer_id", "type", "at", "note"])
        for k in range(rows):
            customer = 1 + (worker * count * rows + i * rows + k) % customers
            out.writerow([customer, "call", "2024-01-01", f"worker-{worker}-{i:03d}-{k:02d}"])
    return path


def writer(worker: int, count: int, rows: int, customers: int, ready: Path, go: Path, overlapped: Path,
           results: Path) -> None:
    invoke_in_process(["--version"])  # imports crmcli and builds the commands before the start signal
    ready.touch()
    _wait_for(go)
    calls = []
    started = time.monotonic()
    i = 0
    # At least COUNT imports, and on until the reader has run each of its commands once while
    # we write: on a slow machine a report can take longer than the COUNT imports.
    while i < count or not overlapped.exists():
        calls.append(invoke_in_process(["interaction", "import",
                                        str(_calls_file(results, worker, i, rows, customers, count))]))
        i += 1
    results.write_text(json.dumps({"seconds": time.monotonic() - started, "calls": calls}))


def torn_transactions(notes, rows: int) -> list[str]:
    """The writers' transactions (note groups worker-W-NNN) seen with neither none nor all ROWS rows."""
    seen: dict[str, int] = {}
    for note in notes:
        if note.startswith("worker-"):
            group = note.rsplit("-", 1)[0]
            seen[group] = seen.get(group, 0) + 1
    return sorted(group for group, n in seen.items() if n != rows)


def reader(rows: int, ready: Path, go: Path, overlapped: Path, stop: Path, results: Path) -> None:
    import threading

    db_path = os.environ["CRM_DB"]  # a file path, or a server's address
    ready.touch()
    _wait_for(go)
    direct = {"reads": 0, "torn": []}

    def read_directly() -> None:
        # Quick reads all the while: many more chances to catch a torn state than the commands give.
        while not stop.exists():
            notes = [row[0] for row in query(db_path, "SELECT note FROM interactions WHERE note LIKE 'worker-%'")]
            direct["reads"] += 1
            direct["torn"] += torn_transactions(notes, rows)
            time.sleep(0.005)  # leave the two cores to the writers and the commands

    thread = threading.Thread(target=read_directly)
    thread.start()
    commands = [["export", "interactions"], ["report", "churn", "--format", "csv", "--limit", "0"]]
    runs = []
    while not stop.exists():
        if runs:
            overlapped.touch()  # each command has run once, while the writers wrote (they wait for this)
        for args in commands:
            done = subprocess.run([*CRM, *args], env=os.environ.copy(), capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL)
            table = list(csv.DictReader(io.StringIO(done.stdout)))
            torn = torn_transactions([row.get("note") or "" for row in table], rows) if args[0] == "export" else []
            runs.append({"args": args, "exit_code": done.returncode, "stderr": done.stderr, "rows": len(table),
                         "torn": torn, "finished_before_stop": not stop.exists()})
    thread.join()
    results.write_text(json.dumps({"runs": runs, "direct_reads": direct["reads"], "direct_torn": direct["torn"]}))


if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "writer":
        writer(int(rest[0]), int(rest[1]), int(rest[2]), int(rest[3]), *map(Path, rest[4:8]))
    elif role == "reader":
        reader(int(rest[0]), *map(Path, rest[1:6]))
    else:
        raise SystemExit(f"unknown role {role!r}")
