"""Everyday commands against `crm info` on the same file (issue 14, items 1 and 6), as whole processes.

The database is bench_reports' (100,000 customers and 1.7 million purchases by default; --customers N
for another size), copied to a scratch file, upgraded by one untimed `crm info`, then given by plain SQL
what the generator leaves out: the tag `vip` on every tenth customer, 2,000 complaints (every other one
open) and 1,000 follow-ups (some due today or overdue). Each command below then runs --repeat times
(default 3), the rounds interleaved so that the machine's other work falls on all of them alike; the
median of each is printed with its ratio to `crm info`'s median of the same run, and PASS or MISS
against the target (at most 2x `crm info`). A MISS does not fail the script; a command that fails does.

    .venv/bin/python tests/benchmarks/bench_everyday.py [--customers 100000] [--repeat 3] [--show]

--show adds `customer show` (its scores come from the stored fits of issue 14 item 2; one untimed
show stores them first).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_reports  # noqa: E402 (the path above is where it is)
from figures import Figures  # noqa: E402

TARGET = 2.0  # x `crm info` (issue 14, item 1), at 100,000 customers
TARGET_AT_A_MILLION = 3.0  # item 5: at 1,000,000 customers (and beyond)


def source_database(customers: int) -> Path:
    """bench_reports' database of this size: any one already built (crm upgrades the copy), else a new one."""
    built = sorted(bench_reports.WORK.glob(f"reports-v{bench_reports.GENERATOR_VERSION}-*-c{customers}-s1.db"),
                   key=lambda p: p.stat().st_mtime)
    if built:
        return built[-1]
    path, _, _ = bench_reports.build(customers, 1)
    return path


def scratch_copy(source: Path, customers: int) -> Path:
    path = bench_reports.WORK / f"everyday-c{customers}.db"
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    shutil.copyfile(source, path)
    return path


def add_everyday_data(path: Path, customers: int) -> None:
    """Tags, complaints and follow-ups, written as another program would (plain sqlite3, crm's triggers run)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT OR IGNORE INTO customer_tags (customer_id, tag) "
                     "SELECT id, 'vip' FROM customers WHERE id % 10 = 0")
        step = max(1, customers // 2000)
        conn.execute(
            "INSERT INTO feedback (customer_id, type, rating, category, note, at, resolved_at, created_at) "
            "SELECT id, 'complaint', 2, 'delivery', 'late parcel', '2026-05-01T10:00:00', "
            "       CASE WHEN id % (2 * ?) = 0 THEN '2026-05-03T10:00:00' END, '2026-05-01T10:00:00' "
            "  FROM customers WHERE id % ? = 0", (step, step))
        step = max(1, customers // 1000)
        conn.execute(
            "INSERT INTO followups (customer_id, due, staff, note, created_at) "
            "SELECT id, date('now', printf('%+d days', id % 30 - 10)), 'Ana', 'call back', '2026-06-01T09:00:00' "
            "  FROM customers WHERE id % ? = 0", (step,))
    conn.close()


def commands(customers: int, show: bool) -> list[tuple[str, list[str]]]:
    """(label, argv after `crm --db PATH`); the writes add a little each round, as a shop's day does."""
    someone = str(min(5000, customers))
    listed = [
        ("crm info", ["info"]),
        ("customer list --limit 20", ["customer", "list", "--limit", "20"]),
        ("customer list --search Adams --limit 20", ["customer", "list", "--search", "Adams", "--limit", "20"]),
        ("customer list --search 'Jonas Lopez 4242'", ["customer", "list", "--search", "Jonas Lopez 4242",
                                                      "--limit", "20"]),
        ("customer list --tag vip --limit 20", ["customer", "list", "--tag", "vip", "--limit", "20"]),
        ("agenda", ["agenda"]),
        ("feedback list --open", ["feedback", "list", "--open"]),
        ("followup list", ["followup", "list"]),
        ("interaction list --limit 20", ["interaction", "list", "--limit", "20"]),
        ("customer add", ["customer", "add", "Bench Newcomer"]),
        ("interaction add", ["interaction", "add", someone, "--type", "purchase", "--amount", "12.50"]),
        ("feedback add", ["feedback", "add", someone, "--type", "complaint", "--note", "slow till"]),
    ]
    if show:
        listed.append((f"customer show {someone}", ["customer", "show", someone]))
    return listed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="also time `customer show`")
    parser.add_argument("--figures", type=Path, help="also write the figures to this JSON file (bench_all.py)")
    args = parser.parse_args(argv)
    target = TARGET if args.customers < 1_000_000 else TARGET_AT_A_MILLION
    figures = Figures()
    crm = str(bench_reports.crm_command())
    source = source_database(args.customers)
    path = scratch_copy(source, args.customers)
    out = bench_reports.WORK / "everyday.out"
    warm = bench_reports.measure("upgrade", [crm, "--db", str(path), "info"], out)
    if not warm.ok:
        print(f"crm info failed on {path}:\n{warm.stderr}")
        return 1
    print(f"{source.name} copied to {path.name}; first `crm info` (upgrades the copy, untimed): "
          f"{warm.wall_seconds:.2f} s")
    add_everyday_data(path, args.customers)
    plan = commands(args.customers, args.show)
    if args.show:
        # A shop's fits are stored (by the first report or show of the day, or a nightly `report model --refit`):
        # one untimed show stores them, so that every timed one is the everyday, warm case.
        label, command = plan[-1]
        stored = bench_reports.measure(label, [crm, "--db", str(path), *command], out)
        if not stored.ok:
            print(f"FAILED: crm {' '.join(command)}\n{stored.stderr}")
            return 1
        print(f"first `crm {' '.join(command)}` (fits and stores the models, untimed): {stored.wall_seconds:.2f} s")
    times: dict[str, list[float]] = {label: [] for label, _ in plan}
    for _ in range(args.repeat):
        for label, command in plan:
            run = bench_reports.measure(label, [crm, "--db", str(path), *command], out)
            if not run.ok:
                print(f"FAILED: crm {' '.join(command)}\n{run.stderr}")
                return 1
            times[label].append(run.wall_seconds)
    info = statistics.median(times["crm info"])
    print(f"{args.customers:,} customers; load average {os.getloadavg()[0]:.2f}; medians of {args.repeat}; "
          f"target: at most {target:g}x `crm info`")
    print(f"{'command':44} {'median s':>9} {'x info':>7}")
    for label, _ in plan:
        median = statistics.median(times[label])
        judged = "" if label == "crm info" else ("PASS" if median <= target * info else "MISS")
        print(f"{label:44} {median:9.3f} {median / info:7.2f}  {judged}")
        if label == "crm info":
            figures.add("1", "crm info: seconds", median, f"{median:.2f} s")
        else:
            # One name at every size (the customer shown is 5,000 or the last of a smaller base).
            name = "customer show REF" if label.startswith("customer show") else label
            figures.add("1", f"{name}: x crm info", median / info, f"{median / info:.2f}x", f"<= {target:g}x",
                        median <= target * info)
    figures.write(args.figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
