#!/usr/bin/env python
"""Every figure of issue 14 in one run, side by side for each size: the other benchmarks, run in turn.

For each size asked (customers; 100,000 by default, `--sizes 100000,1000000` for the million as well):

  bench_reports.py  --customers N, once per generator (--stories: customers drawn from BG/NBD's story and
                    from Pareto/NBD's): the reports cold and warm against lifetimes, `customer show`,
                    `report summary` against `report churn` (items 1, 2, 3)
  bench_everyday.py --customers N --show: the everyday commands against `crm info` (items 1, 5)
  bench_import.py   --customers N --rows 17 N: the import against sqlite-utils and the sqlite3 shell
                    (item 4), and its peak memory (items 4, 5)

Each script prints its own table as it goes (its output is shown) and writes its figures to
work/all/; this script then prints them together, a column per size, with PASS or MISS where the issue
sets a target, and adds item 5's own figure: `report churn` cold at each size against its time at the
smallest. The peers that take minutes at 100,000 customers (lifetimes' Pareto/NBD fitter, 1-2 min;
sqlite-utils, 1 min a batch size) are run up to --peers-up-to customers (default 100,000) and skipped
above it, which the table says; lifetimes' BG/NBD fitter runs at every size.

    .venv/bin/python tests/benchmarks/bench_all.py [--sizes 100000,1000000] [--repeat 3] [--repeat-large 1]
                                                   [--stories bgnbd,pareto] [--peers-up-to 100000]

A size of 1,000,000 builds a database of 17 million purchases per story (about 8 minutes each, then
cached in work/) and takes most of an hour in all on 2 cores. A MISS does not fail the run; a script
that fails does (its error is printed).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from figures import Figure, read, verdict  # noqa: E402 (beside this file)

OUT = HERE / "work" / "all"
PURCHASE_ROWS_PER_CUSTOMER = 17  # bench_import's file: 1.7 million rows at 100,000 customers, as the reports' data
# Item 5: `report churn` cold at 1,000,000 customers within 12x of its time at 100,000.
TARGET_GROWTH = 12.0
GROWTH_FIGURE = "report churn --model bgnbd, cold: seconds"


def jobs(size: int, stories: list[str], repeat: int, peers: bool) -> list[tuple[str, list[str]]]:
    """(title, argv after python) of each script to run at this size; each writes its figures to OUT."""
    listed = []
    for story in stories:
        peer = [] if peers else ["--peer-models", "bgnbd"]
        listed.append((f"reports, {story} story", ["bench_reports.py", "--customers", str(size), "--story", story,
                                                  "--repeat", str(repeat), *peer]))
    listed.append(("everyday commands", ["bench_everyday.py", "--customers", str(size), "--repeat", str(repeat),
                                         "--show"]))
    listed.append(("import", ["bench_import.py", "--customers", str(size), "--rows",
                              str(PURCHASE_ROWS_PER_CUSTOMER * size), "--batch-sizes", "100000",
                              *([] if peers else ["--skip-peers"])]))
    return listed


def figures_path(size: int, title: str) -> Path:
    return OUT / f"c{size}-{title.replace(',', '').replace(' ', '-')}.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="customers, comma-separated (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (default: %(default)s)")
    parser.add_argument("--repeat-large", type=int, default=1,
                        help="runs of each command at 1,000,000 customers and more (default: %(default)s)")
    parser.add_argument("--stories", default="bgnbd,pareto", help="generators (default: %(default)s)")
    parser.add_argument("--peers-up-to", type=int, default=100_000,
                        help="run the slow peers at sizes up to this (default: %(default)s)")
    parser.add_argument("--again", action="store_true",
                        help="run nothing: print the figures the last run wrote to work/all/ for these sizes")
    parser.add_argument("--markdown", action="store_true", help="print the table in Markdown (for the README)")
    args = parser.parse_args(argv)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    stories = [story for story in args.stories.split(",") if story]
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    results: dict[tuple[str, int], list[Figure]] = {}
    failed = []
    for size in sizes:
        peers = size <= args.peers_up_to
        repeat = args.repeat if size < 1_000_000 else args.repeat_large
        for title, command in jobs(size, stories, repeat, peers):
            path = figures_path(size, title)
            if args.again:
                if path.exists():
                    results[(title, size)] = read(path)
                continue
            path.unlink(missing_ok=True)
            print(f"\n==== {title}, {size:,} customers: {' '.join(command)}", flush=True)
            done = subprocess.run([sys.executable, str(HERE / command[0]), *command[1:], "--figures", str(path)])
            if done.returncode != 0 or not path.exists():
                failed.append(f"{title} at {size:,} customers exited {done.returncode}")
                continue
            results[(title, size)] = read(path)

    if args.markdown:
        print_markdown(results, sizes, args.peers_up_to)
        return 1 if failed else 0
    if not args.again:
        print(f"\n==== issue 14, every figure: {platform.python_version()}, {os.cpu_count()} cores, load average "
              f"{load_before:.2f} at the start, {(time.monotonic() - started) / 60:.0f} minutes in all")
    print_table(results, sizes, stories, args.peers_up_to)
    for message in failed:
        print(f"FAILED: {message}")
    return 1 if failed else 0


def _rows(results: dict[tuple[str, int], list[Figure]], sizes: list[int]):
    """(title, item, name, the figure at each size or None, its targets) for every figure, in the order run."""
    by_name = {key: {f.name: f for f in figures} for key, figures in results.items()}
    for title in dict.fromkeys(title for title, _ in results):
        names = dict.fromkeys(name for size in sizes for name in by_name.get((title, size), {}))
        for name in names:
            found = [by_name.get((title, size), {}).get(name) for size in sizes]
            item = next(f.item for f in found if f is not None)
            yield title, item, name, found, " / ".join(dict.fromkeys(f.target for f in found if f and f.target))


def print_table(results: dict[tuple[str, int], list[Figure]], sizes: list[int], stories: list[str],
                peers_up_to: int) -> None:
    width = 27
    header = "".join(f"{f'{size:,} customers':>{width}}" for size in sizes)
    shown_title = None
    for title, item, name, found, targets in _rows(results, sizes):
        if title != shown_title:
            print(f"\n{title}{'':<{66 - len(title)}}{header}   target")
            shown_title = title
        cells = [f"{f.shown + ' ' + verdict(f.met) if f else ('skipped' if size > peers_up_to else '-'):>{width}}"
                 for f, size in zip(found, sizes, strict=True)]
        print(f"  [{item}] {name:<59}{''.join(cells)}   {targets}")
    growth = [(story, size) for story in stories for size in sizes[1:]]
    if growth:
        print(f"\ngrowth (item 5): `report churn --model bgnbd` cold, against its time at {sizes[0]:,} customers")
        for story, size in growth:
            small = _value(results, f"reports, {story} story", sizes[0], GROWTH_FIGURE)
            large = _value(results, f"reports, {story} story", size, GROWTH_FIGURE)
            if small and large:
                ratio, target = large / small, TARGET_GROWTH * size / sizes[0] / 10
                print(f"  {story} story, {size:,} customers: {large:.2f} s against {small:.2f} s, {ratio:.2f}x "
                      f"(target <= {target:g}x)   {verdict(ratio <= target)}")


def print_markdown(results: dict[tuple[str, int], list[Figure]], sizes: list[int], peers_up_to: int) -> None:
    """The same figures as one Markdown table: a row per figure, a column per size."""
    print("| item | figure | " + " | ".join(f"{size:,} customers" for size in sizes) + " | target |")
    print("|---|---|" + "---|" * len(sizes) + "---|")
    for title, item, name, found, targets in _rows(results, sizes):
        cells = [f"{f.shown} {verdict(f.met)}".strip() if f else ("skipped" if size > peers_up_to else "")
                 for f, size in zip(found, sizes, strict=True)]
        figure = f"{title}: {name}".replace("|", "\\|")  # a | inside a cell ends it in Markdown
        print(f"| {item} | {figure} | {' | '.join(cells)} | {targets} |")


def _value(results: dict[tuple[str, int], list[Figure]], title: str, size: int, name: str) -> float | None:
    return next((f.value for f in results.get((title, size), []) if f.name == name), None)


if __name__ == "__main__":
    raise SystemExit(main())
