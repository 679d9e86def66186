#!/usr/bin/env python
"""Benchmark: `crm interaction import` of 1.7 million purchase rows against two peers.

Builds (once, then reuses) a reproducible till export: 1.7 million purchases
by 100,000 customers over three years (receipt number, customer number, date
and time to the second, amount, staff member, a few notes), and the matching
customers file. Then, each as a whole process, timed by wall clock with the
peak resident memory of that process alone (os.wait4):

  crm        `crm interaction import FILE` into a database holding the
             customers (imported first, not timed): every cell checked by
             crmcli's validation, every customer looked up, re-run safety by
             receipt number, one transaction, one batch. Run twice: as a user
             runs it (on Linux with 2 or more CPUs, worker processes parse and
             check while the main process writes: up to 1 + min(CPUs, 4)
             processes), and pinned to one CPU with `taskset -c 0`, where it
             uses one process, like the peers.
  sqlite-utils  `sqlite-utils insert DB purchases FILE --csv --batch-size N` on
             the same file, for each N of --batch-sizes (its default is 100);
             its fastest counts. One process; no validation, every value
             stored as text.
  sqlite3    the sqlite3 shell's `.import --csv FILE purchases`: the native
             limit, no validation, one process. Installed with apt-get when
             missing (and root); otherwise skipped with the reason printed.

The table says how many processes each run used at most (sampled from /proc).
It prints the figures, the ratios and PASS or MISS for the targets of issue 14:
at least 8x faster than sqlite-utils insert at its best batch size and within 6x
of the sqlite3 shell's time, each judged on one process (like for like) and as a
user runs it (with workers), and peak memory under 200 MB.
A MISS does not fail the script; it exits non-zero only when something could
not run. pytest does not collect this file (it is not named test_*.py).

    .venv/bin/python tests/benchmarks/bench_import.py [--rows 1700000] [--repeat 1] [--skip-peers]

Other work on the machine slows every side; the load average is printed with
the figures. Each command runs --repeat times and the fastest run counts.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import Figures  # noqa: E402 (beside this file)

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
BIN = Path(sys.executable).parent

CUSTOMERS = 100_000  # the default; --customers for another size
START = datetime(2023, 7, 1, 8, 0, 0)
DAYS = 3 * 365
STAFF = ["Linh", "Sam", "Ana", "Tomasz", "Priya", ""]
NOTES = ["", "", "", "", "", "", "", "", "", "gift wrap", "paid by card", "loyalty voucher"]
GENERATOR_VERSION = 1  # bump when the data change, so cached files are rebuilt

# Issue 14, item 4: at least 8x faster than sqlite-utils insert --csv (issue 4 asked 4x), within 6x of
# the sqlite3 shell's .import, peak memory under 200 MB.
TARGET_SPEEDUP = 8.0
TARGET_SHELL_RATIO = 6.0
TARGET_PEAK_MB = 200.0
# Item 5: importing ten times as much (1,000,000 customers, 17 million rows) stays under 250 MB.
TARGET_PEAK_MB_AT_17M = 250.0
BIG_FILE_ROWS = 10_000_000  # files from this many rows are judged against TARGET_PEAK_MB_AT_17M


@dataclass
class Run:
    label: str
    seconds: float
    peak_kib: int  # the largest single process of the run (wait4's ru_maxrss)
    returncode: int
    stderr: str
    tree_peak_kib: int = 0  # the process and its worker processes together, sampled (PSS: shared pages once)
    processes: int = 1  # the most processes of its tree seen at once (sampled)

    @property
    def peak_mb(self) -> float:
        """The memory figure that counts: the whole process tree, sampled; wait4's ru_maxrss only when the
        run was too short to sample. ru_maxrss is no upper bound to trust here: the child's high-water mark
        starts from the pages it shared with this script when forked, so after building a 17-million-row
        file every run, sqlite3's shell included, "peaked" at this script's own 673 MB."""
        return (self.tree_peak_kib or self.peak_kib) / 1024


def _tree(pid: int) -> list[int]:
    """pid and its descendants, from /proc (Linux)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(child) for child in (task / "children").read_text().split())
    return found


def _pss_kib(pid: int) -> int:
    """Proportional set size: a page shared by n processes counts 1/n in each, so a sum is fair."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _sample_tree(pid: int, stop: threading.Event, peak: list[int]) -> None:
    """peak[0]: the largest PSS of the tree; peak[1]: the most processes in it at once."""
    while not stop.wait(0.05):
        tree = _tree(pid)
        peak[0] = max(peak[0], sum(_pss_kib(p) for p in tree))
        peak[1] = max(peak[1], len(tree))


def build_files(rows: int, seed: int, customer_count: int = CUSTOMERS) -> tuple[Path, Path]:
    """The purchases and customers CSV files, built once per (rows, seed, customers, version)."""
    WORK.mkdir(parents=True, exist_ok=True)
    stem = f"import-v{GENERATOR_VERSION}-r{rows}-s{seed}"
    if customer_count != CUSTOMERS:
        stem += f"-c{customer_count}"
    digits = max(6, len(str(customer_count - 1)))  # C000042 at 100,000 customers, as the files always were
    purchases, customers = WORK / f"{stem}-purchases.csv", WORK / f"{stem}-customers.csv"
    if purchases.exists() and customers.exists():
        return purchases, customers
    print(f"building {rows:,} purchase rows (once; cached in {WORK}) ...", flush=True)
    rng = random.Random(seed)
    with open(customers.with_suffix(".tmp"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["external_id", "name", "email", "phone", "since"])
        for n in range(customer_count):
            writer.writerow([f"C{n:0{digits}d}", f"Customer {n}", f"customer{n}@example.com",
                             f"0{rng.randrange(10**9):09d}",
                             (START.date() - timedelta(days=rng.randrange(2000))).isoformat()])
    # Customers buy at different rates: a few buy very often, most rarely.
    weights = [rng.paretovariate(1.2) for _ in range(customer_count)]
    buyers = rng.choices(range(customer_count), weights=weights, k=rows)
    with open(purchases.with_suffix(".tmp"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["external_id", "customer_external_id", "type", "at", "amount", "by", "note"])
        seconds = DAYS * 86400
        for n, buyer in enumerate(buyers):
            moment = START + timedelta(seconds=n * seconds // rows + rng.randrange(3600))
            refund = rng.random() < 0.02
            cents = rng.randrange(150, 25000) if not refund else rng.randrange(150, 5000)
            writer.writerow([f"R{n + 1:08d}", f"C{buyer:0{digits}d}", "refund" if refund else "purchase",
                             moment.isoformat(timespec="seconds"), f"{cents // 100}.{cents % 100:02d}",
                             rng.choice(STAFF), rng.choice(NOTES)])
    customers.with_suffix(".tmp").rename(customers)
    purchases.with_suffix(".tmp").rename(purchases)
    return purchases, customers


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def measure(label: str, argv: list[str], env: dict | None = None) -> Run:
    started = time.perf_counter()
    with open(WORK / "bench-import.stderr", "w+", encoding="utf-8") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, env=env)
        stop, tree_peak = threading.Event(), [0, 1]
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, stop, tree_peak), daemon=True)
        sampler.start()
        # wait4 reaps this child and returns its rusage (ru_maxrss in KiB on Linux: the largest of
        # the process and its reaped children, not their sum; hence the sampling as well).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        err.seek(0)
        message = err.read()
    return Run(label, wall, usage.ru_maxrss, os.waitstatus_to_exitcode(status), message, tree_peak[0], tree_peak[1])


def best_of(repeat: int, prepare, label: str, argv: list[str], env: dict | None = None) -> Run:
    runs = []
    for _ in range(repeat):
        prepare()
        run = measure(label, argv, env)
        if run.returncode != 0:
            raise SystemExit(f"{label} failed (exit {run.returncode}):\n{run.stderr}")
        runs.append(run)
    return min(runs, key=lambda r: r.seconds)


def sqlite3_shell() -> tuple[str | None, str]:
    """The sqlite3 shell, installed with apt-get if missing and possible; else (None, why not)."""
    found = shutil.which("sqlite3")
    if found:
        return found, ""
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("the sqlite3 shell is missing: installing it with apt-get ...", flush=True)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        result = subprocess.run(["apt-get", "install", "-y", "-qq", "sqlite3"], **quiet)
        found = shutil.which("sqlite3")
        if found:
            return found, ""
        return None, f"apt-get install sqlite3 failed: {result.stderr.decode(errors='replace').strip()[:200]}"
    return None, "the sqlite3 shell is not installed and apt-get is not available to root here"


def count_rows(db: Path, table: str) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_700_000)
    parser.add_argument("--customers", type=int, default=CUSTOMERS)
    parser.add_argument("--figures", type=Path, help="also write the figures to this JSON file (bench_all.py)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-peers", action="store_true", help="time crm only")
    parser.add_argument("--batch-sizes", default="100,1000,10000,100000",
                        help="sqlite-utils --batch-size values to try; the fastest counts (default: %(default)s)")
    args = parser.parse_args()

    purchases, customers = build_files(args.rows, args.seed, args.customers)
    size_mb = purchases.stat().st_size / 1e6
    crm = str(BIN / "crm")
    crm_db = WORK / "bench-import-crm.db"
    env = {**os.environ, "CRM_DB": str(crm_db)}
    env.pop("NO_COLOR", None)

    def crm_with_customers() -> None:
        fresh(crm_db)
        result = subprocess.run([crm, "customer", "import", str(customers)], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"crm customer import failed:\n{result.stderr}")

    print(f"file: {purchases.name}: {args.rows:,} rows, {size_mb:.0f} MB; {args.customers:,} customers", flush=True)
    taskset = shutil.which("taskset")
    crm_runs = []
    if taskset:  # one CPU: crmcli starts no worker process, so one process like each peer
        crm_runs.append(best_of(args.repeat, crm_with_customers, "crm import, 1 CPU",
                                [taskset, "-c", "0", crm, "interaction", "import", str(purchases)], env))
    crm_runs.append(best_of(args.repeat, crm_with_customers, "crm import, default",
                            [crm, "interaction", "import", str(purchases)], env))
    imported = count_rows(crm_db, "interactions")
    if imported != args.rows:
        raise SystemExit(f"crm imported {imported:,} rows, not {args.rows:,}")
    rerun = measure("crm, the same file again", [crm, "interaction", "import", str(purchases)], env)
    if rerun.returncode != 0 or count_rows(crm_db, "interactions") != args.rows:
        raise SystemExit(f"re-running the import was not a no-op:\n{rerun.stderr}")
    runs = list(crm_runs)

    skipped_reason = ""
    if not args.skip_peers:
        peer_db = WORK / "bench-import-peer.db"
        sqlite_utils = BIN / "sqlite-utils"
        for batch in (int(size) for size in args.batch_sizes.split(",")):
            runs.append(best_of(args.repeat, lambda: fresh(peer_db), f"sqlite-utils --batch-size {batch}",
                                [str(sqlite_utils), "insert", str(peer_db), "purchases", str(purchases), "--csv",
                                 "--batch-size", str(batch)]))
            if count_rows(peer_db, "purchases") != args.rows:
                raise SystemExit("sqlite-utils did not insert every row")
        shell, skipped_reason = sqlite3_shell()
        if shell:
            runs.append(best_of(args.repeat, lambda: fresh(peer_db), "sqlite3 shell .import --csv",
                                [shell, str(peer_db), f".import --csv {purchases} purchases"]))
            if count_rows(peer_db, "purchases") != args.rows:
                raise SystemExit("the sqlite3 shell did not import every row")
        fresh(peer_db)

    print()
    print(f"python {platform.python_version()}, sqlite {__import__('sqlite3').sqlite_version}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'':32} {'seconds':>8} {'rows/s':>10} {'peak MB':>8} {'processes':>9}  (peak: all its processes together)")
    for run in runs:
        print(f"{run.label:32} {run.seconds:8.1f} {args.rows / run.seconds:10,.0f} {run.peak_mb:8.0f} "
              f"{run.processes:9d}")
    print(f"{rerun.label:32} {rerun.seconds:8.1f} {'(all skipped)':>13} {rerun.peak_mb:5.0f} {rerun.processes:9d}")
    if skipped_reason:
        print(f"sqlite3 shell skipped: {skipped_reason}")
    if not taskset:
        print("taskset not found: crm was run only as by default (with its worker processes)")
    ours = crm_runs[0]  # one process when taskset is there: like for like
    print()
    peers = runs[len(crm_runs):]
    for run in peers:
        print(f"{ours.label} vs {run.label}: {run.seconds / ours.seconds:.2f}x the speed, "
              f"{ours.peak_mb / run.peak_mb:.1f}x the peak memory ({ours.processes} process(es) against "
              f"{run.processes})")
    peak_target = TARGET_PEAK_MB if args.rows < BIG_FILE_ROWS else TARGET_PEAK_MB_AT_17M
    figures = Figures()
    for run in crm_runs:
        figures.add("4", f"{run.label}: seconds", run.seconds, f"{run.seconds:.1f} s")
        figures.add("4", f"{run.label}: peak MB", run.peak_mb, f"{run.peak_mb:.0f} MB", f"< {peak_target:g} MB",
                    run.peak_mb < peak_target)
    verdicts = [(f"peak memory under {peak_target:g} MB (every crm run)",
                 max(r.peak_mb for r in crm_runs) < peak_target, ", ".join(f"{r.peak_mb:.0f} MB" for r in crm_runs))]
    utils = [run for run in peers if run.label.startswith("sqlite-utils")]
    shell = [run for run in peers if run.label.startswith("sqlite3")]
    for crm_run in crm_runs:  # one process (like for like) first, then as a user runs it
        if utils:
            peer = min(utils, key=lambda run: run.seconds)
            speedup = peer.seconds / crm_run.seconds
            verdicts.append((f"at least {TARGET_SPEEDUP:.0f}x faster than sqlite-utils at its best batch size "
                             f"({peer.label.split()[-1]}), {crm_run.label} against it",
                             speedup >= TARGET_SPEEDUP, f"{speedup:.2f}x"))
            figures.add("4", f"{crm_run.label}: x sqlite-utils' speed", speedup, f"{speedup:.2f}x",
                        f">= {TARGET_SPEEDUP:g}x", speedup >= TARGET_SPEEDUP)
        if shell:
            ratio = crm_run.seconds / shell[0].seconds
            verdicts.append((f"within {TARGET_SHELL_RATIO:.0f}x of the sqlite3 shell's .import, {crm_run.label}",
                             ratio <= TARGET_SHELL_RATIO, f"{ratio:.2f}x its time"))
            figures.add("4", f"{crm_run.label}: x the sqlite3 shell's time", ratio, f"{ratio:.2f}x",
                        f"<= {TARGET_SHELL_RATIO:g}x", ratio <= TARGET_SHELL_RATIO)
    for what, ok, figure in verdicts:
        print(f"{'PASS' if ok else 'MISS'}  {what}: {figure}")
    figures.write(args.figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
