"""REF and `customer list --search` at 100,000 customers (issue 13, item 2), in process.

The database is bench_reports' (100,000 customers, 1.7 million purchases), copied, given a phone
number per customer by SQL (as another program would: the trigger of migrations.M006 clears the keys
it makes stale), then crm's next write stores the keys again (refs.refill, timed). Then, fastest of
--repeat runs each: REF by id, exact name, folded name in another order, part of a name, phone
number (international and national form); search by one common word (first 20, and all), a whole
name, a phone number, and a word nobody has. Each prints PASS or MISS against its target (REF by index:
under 1 ms; a search: under 0.2 s); a MISS does not fail the script.

    .venv/bin/python tests/benchmarks/bench_search.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_reports  # noqa: E402 (the path above is where it is)

from crmcli import customers, db, refs  # noqa: E402


def fastest(run, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    source, _, _ = bench_reports.build(args.customers, 1)
    path = bench_reports.WORK / f"search-c{args.customers}.db"
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    shutil.copyfile(source, path)
    conn = db.connect(path)
    with db.transaction(conn):
        conn.execute("UPDATE customers SET phone = '+63 917 ' || printf('%07d', id)")
    started = time.perf_counter()
    with db.transaction(conn):
        refilled = refs.refill(conn)
    print(f"load average {os.getloadavg()[0]:.2f}; keys of {refilled:,} customers stored in "
          f"{time.perf_counter() - started:.2f} s (crm's first write after another program changed them all)")
    name = conn.execute("SELECT name FROM customers WHERE id = 54321").fetchone()[0]
    first, last, number = name.split()
    ok = True
    with db.snapshot(conn):
        lookups = [
            ("REF id", lambda: customers.resolve(conn, "54321"), 54321, 0.001),
            ("REF exact name", lambda: customers.resolve(conn, name), 54321, 0.001),
            ("REF folded name, other order", lambda: customers.resolve(conn, f"{number} {last.upper()} {first}"),
             54321, 0.001),
            ("REF phone +63 917 005 4321", lambda: customers.resolve(conn, "+63 917 005 4321"), 54321, 0.001),
            ("REF phone 0917 005 4321", lambda: customers.resolve(conn, "0917 005 4321"), 54321, 0.001),
            ("REF part of a name", lambda: customers.resolve(conn, f"{last} {number}"), 54321, 0.2),
            ("search common word, first 20", lambda: len(customers.list_customers(conn, search=last, limit=20)),
             20, 0.2),
            ("search common word, all", lambda: len(customers.list_customers(conn, search=last)), None, 1.0),
            ("search whole name", lambda: len(customers.list_customers(conn, search=name)), 1, 0.2),
            ("search phone", lambda: len(customers.list_customers(conn, search="917 005 4321")), 1, 0.2),
            ("search nobody", lambda: len(customers.list_customers(conn, search="zzqqxx")), 0, 0.2),
        ]
        for label, run, expected, target in lookups:
            seconds, result = fastest(run, args.repeat)
            right = expected is None or result == expected
            ok &= right
            verdict = "PASS" if seconds < target else "MISS"
            print(f"{label:34} {seconds * 1000:9.2f} ms  result {result!s:>6}  target < {target * 1000:g} ms "
                  f"{verdict}{'' if right else '  WRONG RESULT'}")
    conn.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
