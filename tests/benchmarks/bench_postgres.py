#!/usr/bin/env python
"""Benchmark: the same crm on a PostgreSQL server beside an SQLite file (issue 16, item 5).

Takes bench_reports.py's database of simulated customers (built once, cached in work/), exports its
customers with `crm export customers`, and then, on a new SQLite file and on a new database on the
server alike: imports the customers, times `crm interaction import` of the 1.7 million purchases (the
server's goes through COPY), and times, in one run, `crm report churn --model bgnbd --limit 0 --format
csv --as-of 2026-06-30` cold (no stored fit) and warm, `report best` cold, `crm info`, `customer show
5000` and `customer list --limit 20` (medians of --repeat). Wall time and the crm process's own peak
memory (the server's own work is not in it). The two reports must be byte for byte the same on both
engines; a difference, or a command that fails, exits non-zero.

    .venv/bin/python tests/benchmarks/bench_postgres.py [--customers 100000] [--url postgresql://...]

Without --url (or CRM_TEST_POSTGRES), a throwaway cluster is started and stopped (tests/pg_cluster.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/: pg_cluster

import bench_reports as reports  # noqa: E402  (beside this file)
from bench_reports import WORK, Run, best_of, build, crm_command, measure  # noqa: E402
from pg_cluster import throwaway_cluster  # noqa: E402

REPORT = ["--limit", "0", "--format", "csv", "--as-of", reports.AS_OF.isoformat()]
TIMED = {
    "report churn --model bgnbd, cold": ["report", "churn", "--model", "bgnbd", *REPORT],
    "report churn --model bgnbd, warm": ["report", "churn", "--model", "bgnbd", *REPORT],
    "report best, cold": ["report", "best", *REPORT],
}
def everyday(customers: int) -> dict[str, list[str]]:
    one = str(min(5000, customers // 2))
    return {"info": ["info"], f"customer show {one}": ["customer", "show", one, "--format", "json"],
            "customer list --limit 20": ["customer", "list", "--limit", "20", "--format", "csv"]}


def forget_fits(crm: str, target: str) -> None:
    """No stored fit: the next report is cold."""
    code = ("import sys\nfrom crmcli import db\nconn = db.connect(sys.argv[1])\n"
            "with db.transaction(conn):\n    conn.execute('DELETE FROM model_fits')\n")
    subprocess.run([sys.executable, "-c", code, target], check=True)


def run_side(name: str, target: str, customers_csv: Path, purchases_csv: Path, repeat: int,
             customers: int) -> dict[str, Run]:
    crm = str(crm_command())
    out = WORK / f"postgres-bench-{name}"
    out.mkdir(parents=True, exist_ok=True)
    found: dict[str, Run] = {}
    setup = measure("customer import", [crm, "--db", target, "-q", "customer", "import", str(customers_csv)],
                    out / "customers.out")
    if not setup.ok:
        raise SystemExit(f"error: {name}: customer import failed: {setup.stderr[-500:]}")
    found["interaction import"] = measure("interaction import", [crm, "--db", target, "-q", "interaction", "import",
                                                                  str(purchases_csv)], out / "import.out")
    for label, args in TIMED.items():
        if "cold" in label:
            forget_fits(crm, target)
        found[label] = measure(label, [crm, "--db", target, "-q", *args], out / f"{label.split(',')[0]}.csv")
    for label, args in everyday(customers).items():
        found[label] = best_of(label, [crm, "--db", target, "-q", *args], out / "everyday.out", repeat, median=True)
    for label, run in found.items():
        if not run.ok:
            raise SystemExit(f"error: {name}: {label} failed: {run.stderr[-800:]}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default=os.environ.get("CRM_TEST_POSTGRES"),
                        help="an administrator's address on the server (a database named crm_bench is made there)")
    args = parser.parse_args(argv)
    db_path, peer_csv, meta = build(args.customers, args.seed)
    crm = str(crm_command())
    customers_csv = WORK / f"{db_path.stem}-customers.csv"
    if not customers_csv.exists():
        subprocess.run([crm, "--db", str(db_path), "export", "customers", "--output", str(customers_csv)], check=True)
    purchases_csv = WORK / f"{db_path.stem}-purchases.csv"
    if not purchases_csv.exists():  # the peer's customer_id,date,amount in crm's import columns
        with open(peer_csv) as peer, open(purchases_csv.with_suffix(".tmp"), "w") as ours:
            next(peer)
            ours.write("customer_id,type,at,amount\n")
            ours.writelines(line.replace(",", ",purchase,", 1) for line in peer)
        purchases_csv.with_suffix(".tmp").rename(purchases_csv)
    print(f"{meta['customers']:,} customers, {meta['purchases']:,} purchases (bench_reports.py's BG/NBD story)")

    sqlite_file = WORK / "postgres-bench.db"
    for leftover in (sqlite_file, Path(f"{sqlite_file}-wal"), Path(f"{sqlite_file}-shm")):
        leftover.unlink(missing_ok=True)
    on_file = run_side("sqlite", str(sqlite_file), customers_csv, purchases_csv, args.repeat, args.customers)

    def on_server(base: str) -> dict[str, Run]:
        import psycopg
        import psycopg.conninfo

        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute("DROP DATABASE IF EXISTS crm_bench WITH (FORCE)")
            admin.execute("CREATE DATABASE crm_bench")
        parts = psycopg.conninfo.conninfo_to_dict(base)
        parts["dbname"] = "crm_bench"
        target = "postgresql://" + (f"{parts.pop('user')}@" if parts.get("user") else "") + "/crm_bench?" + "&".join(
            f"{k}={v}" for k, v in parts.items() if k not in ("dbname", "password"))
        return run_side("postgresql", target, customers_csv, purchases_csv, args.repeat, args.customers)

    if args.url:
        on_pg = on_server(args.url)
    else:
        with throwaway_cluster() as base:
            on_pg = on_server(base)

    print(f"\n{'command':34} {'SQLite s':>9} {'MiB':>6} {'PostgreSQL s':>13} {'MiB':>6} {'ratio':>6}")
    for label in on_file:
        a, b = on_file[label], on_pg[label]
        print(f"{label:34} {a.wall_seconds:9.2f} {a.peak_mib:6.0f} {b.wall_seconds:13.2f} {b.peak_mib:6.0f} "
              f"{b.wall_seconds / a.wall_seconds:6.2f}")
    same = all((WORK / "postgres-bench-sqlite" / f"{label.split(',')[0]}.csv").read_bytes()
               == (WORK / "postgres-bench-postgresql" / f"{label.split(',')[0]}.csv").read_bytes()
               for label in TIMED)
    print(f"\nreports byte for byte the same on both engines: {'yes' if same else 'NO'}")
    print("(ratio: PostgreSQL's time over SQLite's; the server's own memory is not in MiB)")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
