#!/usr/bin/env python
"""Benchmark: `crm report churn` against the `lifetimes` package, model for model.

Builds (once, then reuses) a reproducible database of simulated customers who
buy and drop out the way BG/NBD assumes (`--story pareto`: the way Pareto/NBD does),
times `crm report churn --model M` for M = bgnbd and pareto as whole processes (wall time and the child's own peak RSS),
and runs lifetimes' pipeline for the same model on the same purchases in its own
virtual environment: BG/NBD against BetaGeoFitter, Pareto/NBD against
ParetoNBDFitter, each with GammaGammaFitter for the spend (peer_lifetimes.py). Like
for like: both sides fit the same two models and score every customer; crm's report
does more on top (RFM, 18 columns, a sentence per customer), which counts against it.

Printed against the targets of issues 3 and 14: at least 4x faster cold and 10x warm, at most a third of the
peer's peak memory, P(alive) agreeing within 0.01 on average. A missed speed or
memory target is reported as MISS, not as a failure. The fitted parameters must
agree, and that is checked: BG/NBD and Gamma-Gamma to PARAM_DIGITS["bgnbd"] and
["gamma_gamma"] significant digits, Pareto/NBD to PARAM_DIGITS["pareto"] (its
likelihood is flat along beta: two good optimisers differ by about 4 in 10,000
there); a disagreement, like a command that could not run, exits non-zero.

    .venv/bin/python tests/benchmarks/bench_reports.py [--customers 100000] [--seed 1] [--story bgnbd|pareto]
                                                       [--skip-peer]

`crm report best` is timed too, for the record; it has no peer.

Fits are stored in the database and reused (crmcli/analytics/stored.py), so each crm command is
timed twice: cold, on a fresh copy of the database with no stored fit (the figures judged against
the peer, which never stores one), and warm, on a copy where one untimed run of the same command
stored its fits. `crm customer show 5000` cold and warm and `crm info` are timed beside them
(medians of --repeat runs), on the same copies. The cached database itself is never written to.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from figures import Figures, verdict  # noqa: E402 (beside this file)

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
PEER_SCRIPT = HERE / "peer_lifetimes.py"
PEER_VENV = WORK / "peer-venv"
# The newest versions that lifetimes 0.11.3 (its last release, 2020) works with
# here on Python 3.11; pinned so that the peer's figures are reproducible.
PEER_REQUIREMENTS = [
    "lifetimes==0.11.3",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "autograd==1.9.1",
    "dill==0.4.1",
]

AS_OF = date(2026, 6, 30)
JOIN_SPAN_DAYS = 3 * 365  # first purchases spread over the three years up to AS_OF

# Bump when the simulation changes, so that a cached database is not reused. 2: the customers' keys
# (name_key, phone_key, search_text) stored as crm stores them; version 1 left name_key NULL, which crm
# takes for rows another program wrote: every search folded all of them again, and the first write
# stored a key for each (23 s for `customer add` at 1,000,000 customers).
GENERATOR_VERSION = 2

# BG/NBD (per day): purchase rate lambda ~ Gamma(shape r, rate alpha); after
# each purchase the customer drops out for good with probability p ~ Beta(a, b).
# Tuned so that 100,000 customers make about 1.7 million purchases.
R, ALPHA, A, B = 0.9, 8.3, 0.6, 4.0
# The Pareto/NBD story (--story pareto), the other generator, so that no figure is tuned to one model's
# assumptions: the same purchase rates, and a lifetime per customer ~ Exponential(mu), mu ~ Gamma(shape s,
# rate beta), after which the customer buys no more, whether or not they just bought (about as many
# purchases as the BG/NBD story makes).
PARETO_S, PARETO_BETA = 0.8, 50.0
STORIES = ("bgnbd", "pareto")
# Some purchase days have a second purchase (a second basket, an add-on).
SECOND_PURCHASE_SHARE = 0.05
# Gamma-Gamma (dollars): a transaction's amount ~ Gamma(shape p, rate nu),
# nu ~ Gamma(shape q, rate gamma); mean spend p * gamma / (q - 1) = $60.
GG_P, GG_Q, GG_GAMMA = 4.0, 3.0, 30.0

# Issue 14, item 3: cold (a fresh copy, no stored fit) at least 4x faster than the peer, warm (a fit stored
# by an earlier run) at least 10x.
TARGET_SPEEDUP = 4.0
TARGET_WARM_SPEEDUP = 10.0
TARGET_MEMORY_SHARE = 1 / 3
TARGET_MEAN_P_ALIVE_DIFF = 0.01
# `report summary` (6 months) cold at most this many times `report churn` (its default model) cold.
TARGET_SUMMARY_RATIO = 3.0
# Significant digits to which crm's fitted parameters must equal lifetimes' (asserted).
PARAM_DIGITS = {"bgnbd": 4, "gamma_gamma": 4, "pareto": 3}
PARAM_NAMES = {"bgnbd": ("r", "alpha", "a", "b"), "pareto": ("r", "alpha", "s", "beta"),
               "gamma_gamma": ("p", "q", "gamma")}
MODELS = ("bgnbd", "pareto")  # each judged against its own lifetimes fitter


# --------------------------------------------------------------------------- dataset


@dataclass
class Purchases:
    """One entry per purchase, sorted by customer and time."""

    customer_id: np.ndarray  # 1-based, equal to the row id in the customers table
    at: np.ndarray  # datetime64[s]
    amount_cents: np.ndarray
    join_day: np.ndarray  # datetime64[D], per customer (index customer_id - 1)


def simulate(customers: int, seed: int, story: str = "bgnbd") -> Purchases:
    rng = np.random.default_rng(seed)
    n = customers
    as_of = np.datetime64(AS_OF.isoformat(), "D")
    days_before_as_of = rng.integers(0, JOIN_SPAN_DAYS, n)
    join_day = as_of - days_before_as_of
    first_time = rng.uniform(8 / 24, 20 / 24, n)  # first purchase, as a fraction of its day

    rate = rng.gamma(R, 1.0 / ALPHA, n)
    # Poisson process from the first purchase to the end of AS_OF (BG/NBD) or of the customer's
    # lifetime, if sooner (Pareto/NBD). The first k of its M event times are the first k order
    # statistics of M uniforms: cumsum(E_1..E_k) / (sum E_1..E_k + Gamma(M + 1 - k)), E_i ~ Exp(1).
    window = days_before_as_of + 1.0 - first_time
    if story == "pareto":
        lifetime = rng.exponential(1.0 / rng.gamma(PARETO_S, 1.0 / PARETO_BETA, n))
        window = np.minimum(window, lifetime)
        events = rng.poisson(rate * window)
        repeats = events
    else:
        dropout = rng.beta(A, B, n)
        # Repeat purchases the customer would make before dropping out (dropping
        # out straight after the first purchase gives 0).
        allowed = rng.geometric(dropout) - 1
        events = rng.poisson(rate * window)
        repeats = np.minimum(allowed, events)

    owner = np.repeat(np.arange(n), repeats)
    gaps = rng.exponential(1.0, owner.size)
    cum = np.cumsum(gaps)
    starts = np.cumsum(repeats) - repeats
    # Per-customer cumulative sums out of the global one.
    offset = np.zeros(n)
    has = repeats > 0
    offset[has] = cum[starts[has]] - gaps[starts[has]]
    within = cum - offset[owner]
    last = np.zeros(n)
    last[has] = within[starts[has] + repeats[has] - 1]
    rest = rng.gamma(np.maximum(events - repeats + 1, 1).astype(float), 1.0)
    total = last + rest
    repeat_time = window[owner] * within / total[owner]  # days after the first purchase

    # Everyone's first purchase, then the repeats: days since join_day. The
    # process runs in continuous time; the clock time of a purchase is then
    # drawn within opening hours (the day, all that the models see, is kept).
    owner_all = np.concatenate([np.arange(n), owner])
    day = np.floor(np.concatenate([first_time, first_time[owner] + repeat_time])).astype(np.int64)
    clock = np.concatenate([first_time, rng.uniform(8 / 24, 20 / 24, owner.size)])
    # A second purchase on the same day for some purchases, a few minutes later.
    second = rng.random(owner_all.size) < SECOND_PURCHASE_SHARE
    owner_all = np.concatenate([owner_all, owner_all[second]])
    day = np.concatenate([day, day[second]])
    clock = np.concatenate([clock, clock[second] + rng.uniform(2, 45, second.sum()) / (24 * 60)])

    order = np.lexsort((clock, day, owner_all))
    owner_all, day, clock = owner_all[order], day[order], clock[order]
    seconds = day * 86400 + np.floor(clock * 86400).astype(np.int64)
    at = join_day[owner_all].astype("datetime64[s]") + seconds.astype("timedelta64[s]")

    # Spend: per customer nu ~ Gamma(q, rate gamma); each purchase ~ Gamma(p, rate nu).
    nu = rng.gamma(GG_Q, 1.0 / GG_GAMMA, n)
    dollars = rng.gamma(GG_P, 1.0 / nu[owner_all])
    amount_cents = np.maximum(np.rint(dollars * 100), 1).astype(np.int64)
    return Purchases(customer_id=owner_all + 1, at=at, amount_cents=amount_cents, join_day=join_day)


FIRST_NAMES = [
    "Ada", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya",
    "Nico", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Ximena", "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Horvat", "Ivanova", "Jensen",
    "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Santos", "Tanaka", "Ueda",
    "Varga", "Weber", "Xu", "Yilmaz", "Zimmermann",
]


def build(customers: int, seed: int, story: str = "bgnbd") -> tuple[Path, Path, dict]:
    """The database and the CSV for these parameters and story: built once, then reused."""
    # The schema's text is part of the key: a database built by an older schema is rebuilt.
    from crmcli import migrations as crm_migrations

    schema = hashlib.sha1(repr(crm_migrations.MIGRATIONS).encode()).hexdigest()[:8]
    # The BG/NBD story's name is the one bench_everyday and older runs know; the other story's is apart.
    prefix = "reports" if story == "bgnbd" else f"reports-{story}"
    key = f"{prefix}-v{GENERATOR_VERSION}-{schema}-c{customers}-s{seed}"
    db_path, csv_path, meta_path = WORK / f"{key}.db", WORK / f"{key}.csv", WORK / f"{key}.json"
    if db_path.exists() and csv_path.exists() and meta_path.exists():
        return db_path, csv_path, json.loads(meta_path.read_text())

    from crmcli import db
    from crmcli import interactions as crm_interactions
    from crmcli import values as crm_values

    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = simulate(customers, seed, story)
    at_text = np.datetime_as_string(data.at, unit="s")
    day_text = np.datetime_as_string(data.at, unit="D")
    join_text = np.datetime_as_string(data.join_day, unit="D")

    # Build beside the final names and rename at the end: an interrupted build
    # is never mistaken for a finished one.
    tmp_db = db_path.with_suffix(".db.tmp")
    for leftover in (tmp_db, Path(f"{tmp_db}-wal"), Path(f"{tmp_db}-shm")):
        leftover.unlink(missing_ok=True)
    conn = db.connect(tmp_db)
    # A scratch file until the rename: durability buys nothing here, and a big
    # page cache keeps the inserts into the (type, at) index off the disk.
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")

    def customer_rows():
        rng = np.random.default_rng(seed + 1)
        firsts = rng.integers(0, len(FIRST_NAMES), customers)
        lasts = rng.integers(0, len(LAST_NAMES), customers)
        for i in range(customers):
            name = f"{FIRST_NAMES[firsts[i]]} {LAST_NAMES[lasts[i]]} {i + 1}"
            email = f"{FIRST_NAMES[firsts[i]].lower()}.{LAST_NAMES[lasts[i]].lower()}.{i + 1}@example.com"
            since = str(join_text[i])
            stamp = since + "T08:00:00"
            yield (i + 1, name, email, since, stamp, stamp, *crm_values.customer_keys(name, email, None, None))

    ids = data.customer_id.tolist()
    amounts = data.amount_cents.tolist()
    ats = at_text.tolist()
    with db.transaction(conn):
        # customer_summary's per-row triggers set aside, as crm's importer does (a recompute per row
        # would make the build many times slower); every customer is recomputed once at the end.
        summary = crm_interactions.SummaryAside(conn)
        conn.executemany(
            "INSERT INTO customers (id, name, email, since, created_at, updated_at, name_key, phone_key, "
            "search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            customer_rows(),
        )
        conn.executemany(
            "INSERT INTO interactions (customer_id, type, at, amount_cents, created_at) "
            "VALUES (?, 'purchase', ?, ?, ?)",
            zip(ids, ats, amounts, ats, strict=True),
        )
        summary.touch("1")
        summary.restore()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    purchase_days = conn.execute(
        "SELECT count(*) FROM (SELECT DISTINCT customer_id, substr(at, 1, 10) FROM interactions)"
    ).fetchone()[0]
    conn.close()

    tmp_csv = csv_path.with_suffix(".csv.tmp")
    with open(tmp_csv, "w", newline="") as f:
        f.write("customer_id,date,amount\n")
        f.writelines(
            f"{c},{d},{a // 100}.{a % 100:02d}\n" for c, d, a in zip(ids, day_text.tolist(), amounts, strict=True)
        )
    meta = {
        "customers": customers,
        "seed": seed,
        "as_of": AS_OF.isoformat(),
        "purchases": len(ids),
        "purchase_days": purchase_days,
        "build_seconds": round(time.perf_counter() - started, 1),
        "generator": {"story": story, "r": R, "alpha": ALPHA,
                      **({"s": PARETO_S, "beta": PARETO_BETA} if story == "pareto" else {"a": A, "b": B}),
                      "second_purchase_share": SECOND_PURCHASE_SHARE,
                      "gamma_gamma": {"p": GG_P, "q": GG_Q, "gamma": GG_GAMMA}},
    }
    os.replace(tmp_db, db_path)
    os.replace(tmp_csv, csv_path)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return db_path, csv_path, meta


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    label: str
    wall_seconds: float
    peak_kib: int
    returncode: int
    stderr: str

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# Linux keeps a process's peak RSS across exec, and a child forked from this
# benchmark (which holds the simulated data) starts out with this process's pages:
# its ru_maxrss would be ours. So a small launcher, itself a fresh interpreter,
# forks the measured command from its own memory and reports that child's wall
# time and peak RSS (KiB) on the last line of stderr.
_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
sys.stderr.write(f"\\nMEASURED {time.perf_counter() - started} {usage.ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def measure(label: str, argv: list[str], stdout_path: Path) -> Run:
    """Run argv to completion; wall time and the peak RSS of that command alone."""
    stderr_path = stdout_path.with_suffix(stdout_path.suffix + ".stderr")
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], stdout=out, stderr=err,
                              stdin=subprocess.DEVNULL)
    stderr = stderr_path.read_text(errors="replace")
    body, _, last = stderr.rstrip("\n").rpartition("\n")
    _, wall, peak_kib = last.split()
    return Run(label, float(wall), int(peak_kib), proc.returncode, body)


def best_of(label: str, argv: list[str], stdout_path: Path, repeat: int, before=None, median: bool = False) -> Run:
    """The fastest of `repeat` runs (the one least disturbed by the machine), or the median run; peak RSS
    of that run. before(), if given, runs untimed before each run (a fresh copy of the database)."""
    runs = []
    for _ in range(repeat):
        if before is not None:
            before()
        run = measure(label, argv, stdout_path)
        if not run.ok:
            return run
        runs.append(run)
    if median:
        return sorted(runs, key=lambda r: r.wall_seconds)[(len(runs) - 1) // 2]
    return min(runs, key=lambda r: r.wall_seconds)


def fresh_copy(source: Path, target: Path) -> Path:
    """A copy of the database with no stored fit (and no -wal/-shm left from an earlier run)."""
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


CRM_COMMANDS = {
    # Judged, each against lifetimes with the same model.
    "crm report churn --model bgnbd": ["report", "churn", "--model", "bgnbd"],
    "crm report churn --model pareto": ["report", "churn", "--model", "pareto"],
    # For the record (no peer does this): the default ranking by CLV.
    "crm report best": ["report", "best"],
}


def crm_command() -> Path:
    crm = Path(sys.executable).with_name("crm")
    if not crm.exists():
        raise SystemExit(f"error: {crm} not found; install crmcli in this venv (pip install -e .)")
    return crm


def peer_python() -> Path:
    """The peer's own virtual environment, created and filled on first use."""
    python = PEER_VENV / "bin" / "python"
    marker = PEER_VENV / "requirements.txt"
    wanted = "\n".join(PEER_REQUIREMENTS) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"setting up the peer's environment in {PEER_VENV} ...", file=sys.stderr, flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEER_REQUIREMENTS],
        check=True,
    )
    marker.write_text(wanted)
    return python


def read_column(path: Path, column: str) -> dict[int, float]:
    """customer_id -> value; customers without a number (lifetimes' Pareto/NBD P(alive) overflows
    to NaN, written as an empty cell, for some heavy buyers) are left out and counted apart."""
    with open(path, newline="") as f:
        values = {int(row["customer_id"]): float(row[column]) if row[column] else float("nan")
                  for row in csv.DictReader(f)}
    return {customer: value for customer, value in values.items() if np.isfinite(value)}


def csv_rows(path: Path) -> int:
    with open(path, "rb") as f:
        return max(sum(1 for _ in f) - 1, 0)


def everyday_runs(crm: str, db_path: Path, key: str, repeat: int, errors: list[str], customer: int) -> list[Run]:
    """`customer show 5000` (or the last customer of a smaller base) cold (a fresh copy: it fits the base
    once) and warm (a fit stored), and `info`; medians of `repeat`. The show is as of today, so it fits
    at today's date, not the dataset's."""
    show_db = WORK / f"{key}.show.db"
    out = WORK / f"{key}.everyday.out"
    show = [crm, "--db", str(show_db), "customer", "show", str(customer)]
    runs = [best_of(f"crm customer show {customer} (cold)", show, out, repeat, median=True,
                    before=lambda: fresh_copy(db_path, show_db))]
    runs.append(best_of(f"crm customer show {customer} (warm)", show, out, repeat, median=True))
    runs.append(best_of("crm info", [crm, "--db", str(show_db), "info"], out, repeat, median=True))
    for run in runs:
        if not run.ok:
            errors.append(f"{run.label} exited {run.returncode}:\n{_tail(run.stderr)}")
    return runs


def summary_and_churn(crm: str, db_path: Path, key: str, as_of: str, repeat: int,
                      errors: list[str]) -> tuple[Run, Run] | None:
    """`report summary` (6 months) and `report churn` with its default model, each cold (a fresh copy),
    fastest of `repeat`: issue 14 asks the summary within TARGET_SUMMARY_RATIO of the churn report."""
    copy = WORK / f"{key}.summary.db"
    out = WORK / f"{key}.summary.out"
    tail = ["--format", "csv", "--as-of", as_of]
    print("running crm report summary and crm report churn cold ...", file=sys.stderr, flush=True)
    runs = [best_of(label, [crm, "--db", str(copy), *words, *tail], out, repeat,
                    before=lambda: fresh_copy(db_path, copy))
            for label, words in (("crm report summary", ["report", "summary"]),
                                 ("crm report churn", ["report", "churn", "--limit", "0"]))]
    for path in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
        path.unlink(missing_ok=True)
    for run in runs:
        if not run.ok:
            errors.append(f"{run.label} exited {run.returncode}:\n{_tail(run.stderr)}")
    return (runs[0], runs[1]) if all(run.ok for run in runs) else None


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the fastest is reported")
    parser.add_argument("--skip-peer", action="store_true", help="time crm only")
    parser.add_argument("--skip-crm", action="store_true", help="time the peer only")
    parser.add_argument("--story", choices=STORIES, default="bgnbd",
                        help="how the simulated customers buy and leave: BG/NBD's story or Pareto/NBD's")
    parser.add_argument("--peer-models", default=",".join(MODELS),
                        help="the models the peer runs (lifetimes' Pareto/NBD takes minutes at 100,000 "
                             "customers; default: %(default)s)")
    parser.add_argument("--figures", type=Path, help="also write the figures to this JSON file (bench_all.py)")
    args = parser.parse_args(argv)
    peer_models = [m for m in args.peer_models.split(",") if m]
    if not set(peer_models) <= set(MODELS):
        parser.error(f"--peer-models: each one of {', '.join(MODELS)}")
    figures = Figures()

    print("building the dataset (reused when it exists) ...", file=sys.stderr, flush=True)
    db_path, csv_path, meta = build(args.customers, args.seed, args.story)
    as_of = meta["as_of"]
    key = db_path.stem
    errors: list[str] = []

    # Other work on the machine slows both sides: the load average is printed with the figures.
    load_before = os.getloadavg()
    crm_runs: dict[str, Run] = {}
    warm_runs: dict[str, Run] = {}
    everyday: list[Run] = []
    summary_runs: tuple[Run, Run] | None = None
    cold_db, warm_db = WORK / f"{key}.cold.db", WORK / f"{key}.warm.db"
    if not args.skip_crm:
        crm = str(crm_command())
        for label, words in CRM_COMMANDS.items():
            print(f"running {label} cold and warm ...", file=sys.stderr, flush=True)
            out = crm_output(key, label)
            tail = [*words, "--limit", "0", "--format", "csv", "--as-of", as_of]
            run = best_of(label, [crm, "--db", str(cold_db), *tail], out, args.repeat,
                          before=lambda: fresh_copy(db_path, cold_db))
            crm_runs[label] = run
            if not run.ok:
                errors.append(f"{label} exited {run.returncode}:\n{_tail(run.stderr)}")
                continue
            fresh_copy(db_path, warm_db)
            measure(label, [crm, "--db", str(warm_db), *tail], out.with_suffix(".first.csv"))  # stores the fits
            warm_out = out.with_suffix(".warm.csv")
            warm = best_of(f"{label} (warm)", [crm, "--db", str(warm_db), *tail], warm_out, args.repeat)
            warm_runs[label] = warm
            # The same data, as-of day and parameters: the same bytes, from a stored fit or a fresh one.
            if warm.ok and warm_out.read_bytes() != out.read_bytes():
                errors.append(f"{label}: the warm report differs from the cold one")
        customer = min(5000, meta["customers"])
        everyday = everyday_runs(crm, db_path, key, args.repeat, errors, customer)
        summary_runs = summary_and_churn(crm, db_path, key, as_of, args.repeat, errors)

    peers: dict[str, Run] = {}
    peer_versions = ""
    if not args.skip_peer:
        python = peer_python()
        peer_versions = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in "
             "('lifetimes', 'pandas', 'numpy', 'scipy', 'autograd')))"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        for model in peer_models:
            print(f"running the peer (lifetimes, {model}) ...", file=sys.stderr, flush=True)
            peer = best_of(
                f"lifetimes {PEER_FITTER[model]}",
                [str(python), str(PEER_SCRIPT), model, str(csv_path), as_of, str(peer_output(key, model))],
                peer_stdout(key, model),
                args.repeat,
            )
            peers[model] = peer
            if not peer.ok:
                errors.append(f"the peer ({model}) exited {peer.returncode}:\n{_tail(peer.stderr)}")

    # ---- the table
    print()
    print(f"dataset   {meta['customers']:,} customers, {meta['purchases']:,} purchases, "
          f"{meta['purchase_days']:,} purchase days, as of {as_of} (seed {meta['seed']}, "
          f"the {meta['generator'].get('story', 'bgnbd')} story)")
    print(f"machine   {os.cpu_count()} cores, Python {platform.python_version()} ({platform.machine()}), "
          f"{platform.system()}; load average {load_before[0]:.2f} before the runs")
    if peer_versions:
        print(f"peer      {peer_versions}")
    print(f"runs      fastest of {args.repeat} per command, each a whole process (one process each side: "
          f"crm's report and the peer's script are single-process)")
    print()
    print(f"{'command':<34} {'wall s':>8} {'peak MiB':>9}  rows")
    for run in [*crm_runs.values(), *peers.values()]:
        if run.ok:
            model = next((m for m, r in peers.items() if r is run), None)
            out = peer_output(key, model) if model else crm_output(key, run.label)
            rows = f"{csv_rows(out):,}"
        else:
            rows = f"FAILED (exit {run.returncode})"
        print(f"{run.label:<34} {run.wall_seconds:>8.2f} {run.peak_mib:>9.1f}  {rows}")
    print()
    for label, run in crm_runs.items():
        if run.ok:
            figures.add("3", f"{label.removeprefix('crm ')}, cold: seconds", run.wall_seconds,
                        f"{run.wall_seconds:.2f} s")
            figures.add("3", f"{label.removeprefix('crm ')}, cold: peak MiB", run.peak_mib, f"{run.peak_mib:.1f} MiB")
        warm = warm_runs.get(label)
        if warm is not None and warm.ok:
            figures.add("3", f"{label.removeprefix('crm ')}, warm: seconds", warm.wall_seconds,
                        f"{warm.wall_seconds:.2f} s")
    if warm_runs:
        print("stored fits: each report cold (a fresh copy, no stored fit; the rows above) and warm (a fit stored "
              "by an earlier run)")
        for label, warm in warm_runs.items():
            cold = crm_runs[label]
            if warm.ok and cold.ok:
                print(f"  {label:<34} cold {cold.wall_seconds:6.2f} s  warm {warm.wall_seconds:6.2f} s  "
                      f"cold/warm {cold.wall_seconds / warm.wall_seconds:5.2f}x  peak warm {warm.peak_mib:.1f} MiB")
    if everyday:
        info = everyday[-1]
        print(f"everyday (medians of {args.repeat}), against `crm info` on the same file")
        for run in everyday:
            ratio = f"{run.wall_seconds / info.wall_seconds:5.2f}x crm info" if info.ok and run.ok else "failed"
            print(f"  {run.label:<34} {run.wall_seconds:6.2f} s  {ratio}")
            if run is not info and info.ok and run.ok:
                name = run.label.removeprefix("crm ").replace(f" {customer} ", " REF ")
                ratio = run.wall_seconds / info.wall_seconds
                if "cold" in run.label:  # it fits the base once: no target
                    figures.add("1", f"{name}: x crm info", ratio, f"{ratio:.2f}x")
                else:  # item 1 (2x), and item 5 at a million customers (3x)
                    target = 2.0 if meta["customers"] < 1_000_000 else 3.0
                    figures.add("1", f"{name}: x crm info", ratio, f"{ratio:.2f}x", f"<= {target:g}x", ratio <= target)
    if summary_runs:
        summary, churn = summary_runs
        ratio = summary.wall_seconds / churn.wall_seconds
        print(f"report summary cold {summary.wall_seconds:.2f} s, {summary.peak_mib:.0f} MiB; report churn (the "
              f"default model) cold {churn.wall_seconds:.2f} s: {ratio:.2f}x (target <= {TARGET_SUMMARY_RATIO:g}x)   "
              f"{verdict(ratio <= TARGET_SUMMARY_RATIO)}")
        figures.add("3", "report churn (default model), cold: seconds", churn.wall_seconds,
                    f"{churn.wall_seconds:.2f} s")
        figures.add("3", "report summary cold: x report churn cold", ratio, f"{ratio:.2f}x",
                    f"<= {TARGET_SUMMARY_RATIO:g}x", ratio <= TARGET_SUMMARY_RATIO)
    print()

    if peers:
        print("targets (issue 3), each crm model against the lifetimes fitter of the same model")
        crm_params = crm_fitted_params(fresh_copy(db_path, cold_db), as_of)
        for model in peer_models:
            run, peer = crm_runs.get(f"crm report churn --model {model}"), peers[model]
            label = f"churn --model {model} vs {PEER_FITTER[model]}"
            if run is None or not run.ok or not peer.ok:
                print(f"  {label:<44} not measured (a side failed or was skipped)")
                continue
            speedup = peer.wall_seconds / run.wall_seconds
            share = run.peak_kib / peer.peak_kib
            print(f"  {label:<44} speed  peer/crm = {speedup:6.2f}x cold  (target >= {TARGET_SPEEDUP:.0f}x)   "
                  f"{verdict(speedup >= TARGET_SPEEDUP)}")
            name = f"churn --model {model} vs lifetimes"
            figures.add("3", f"{name}: speed cold", speedup, f"{speedup:.2f}x", f">= {TARGET_SPEEDUP:g}x",
                        speedup >= TARGET_SPEEDUP)
            warm = warm_runs.get(run.label)
            if warm is not None and warm.ok:
                warm_speedup = peer.wall_seconds / warm.wall_seconds
                print(f"  {'':<44} speed  peer/crm = {warm_speedup:6.2f}x warm  (target >= {TARGET_WARM_SPEEDUP:.0f}x)"
                      f"   {verdict(warm_speedup >= TARGET_WARM_SPEEDUP)}")
                figures.add("3", f"{name}: speed warm", warm_speedup, f"{warm_speedup:.2f}x",
                            f">= {TARGET_WARM_SPEEDUP:g}x", warm_speedup >= TARGET_WARM_SPEEDUP)
            print(f"  {'':<44} memory crm/peer = {share:6.2f}   (target <= 1/3)   "
                  f"{verdict(share <= TARGET_MEMORY_SHARE)}")
            figures.add("3", f"{name}: peak memory share", share,
                        f"{share:.3f} ({run.peak_mib:.0f}/{peer.peak_mib:.0f} MiB)", "<= 1/3",
                        share <= TARGET_MEMORY_SHARE)
            ours = read_column(crm_output(key, run.label), "p_alive")
            theirs = read_column(peer_output(key, model), "p_alive")
            common = sorted(ours.keys() & theirs.keys())
            if common:
                diff = np.abs(np.array([ours[c] for c in common]) - np.array([theirs[c] for c in common]))
                print(f"  {'':<44} P(alive) mean |diff| = {diff.mean():.2g}, max {diff.max():.2g}, over "
                      f"{len(common):,} customers (target mean <= {TARGET_MEAN_P_ALIVE_DIFF})   "
                      f"{verdict(diff.mean() <= TARGET_MEAN_P_ALIVE_DIFF)}")
                figures.add("3", f"{name}: P(alive) mean |diff|", diff.mean(), f"{diff.mean():.2g}",
                            f"<= {TARGET_MEAN_P_ALIVE_DIFF}", diff.mean() <= TARGET_MEAN_P_ALIVE_DIFF)
                if len(common) != len(theirs) or len(common) != len(ours):
                    print(f"  {'':<44} note: a P(alive) for {len(ours):,} customers from crm, "
                          f"{len(theirs):,} from lifetimes (the others NaN or missing)")
            else:
                errors.append(f"no customer in common between crm's and the peer's P(alive) ({model})")
        print()
        print("fitted parameters (time in days), crm against lifetimes on the same data; checked")
        story = meta["generator"].get("story", "bgnbd")
        simulated = {"r": R, "alpha": ALPHA, **({"s": PARETO_S, "beta": PARETO_BETA} if story == "pareto"
                                                else {"a": A, "b": B})}
        print(f"  {story + ' simulated':<22} " + _params(simulated, story))
        for model in (*peer_models, "gamma_gamma"):
            # Both peer runs fit the same Gamma-Gamma; the first run's is compared.
            peer_run = peer_models[0] if model == "gamma_gamma" else model
            theirs = peer_params(peer_stdout(key, peer_run), model) if peers[peer_run].ok else None
            ours = crm_params.get(model)
            print(f"  {model + ' crm':<22} " + _params(ours, model))
            print(f"  {model + ' lifetimes':<22} " + _params(theirs, model))
            if ours is None or theirs is None:
                errors.append(f"{model}: parameters not available from both sides")
                continue
            digits = PARAM_DIGITS[model]
            apart = {name: abs(ours[name] - theirs[name]) / abs(theirs[name]) for name in PARAM_NAMES[model]}
            agree = all(d <= 0.5 * 10.0 ** (1 - digits) for d in apart.values())
            worst = max(apart, key=apart.get)
            if agree:
                print(f"  {'':<22} agree to {digits} significant digits: largest relative difference "
                      f"{apart[worst]:.1e} ({worst})   PASS")
                continue
            # Apart: whichever has the higher likelihood on these data found the maximum. crm's
            # likelihood is the papers' (tests/analytics/test_published_cdnow.py reproduces them).
            ll_ours, ll_theirs = (total_log_likelihood(db_path, as_of, model, params) for params in (ours, theirs))
            if ll_theirs < ll_ours - 0.01:
                print(f"  {'':<22} apart ({worst} by {apart[worst]:.1e}): lifetimes stopped short of the maximum, "
                      f"log-likelihood {ll_theirs:.2f} against crm's {ll_ours:.2f}   PEER SHORT")
            else:
                print(f"  {'':<22} apart ({worst} by {apart[worst]:.1e}), log-likelihood lifetimes {ll_theirs:.2f}, "
                      f"crm {ll_ours:.2f}   FAIL")
                errors.append(f"{model}: crm's parameters {ours} do not agree with lifetimes' {theirs} to "
                              f"{digits} significant digits, and lifetimes' are as likely or more")

    # The copies are the size of the database; the cached original and the outputs stay.
    for copy in (cold_db, warm_db, WORK / f"{key}.show.db"):
        for path in (copy, Path(f"{copy}-wal"), Path(f"{copy}-shm")):
            path.unlink(missing_ok=True)
    figures.write(args.figures)
    for message in errors:
        print(f"\nerror: {message}", file=sys.stderr)
    return 1 if errors else 0


PEER_FITTER = {"bgnbd": "BetaGeoFitter", "pareto": "ParetoNBDFitter"}


def _params(params: dict | None, model: str) -> str:
    if not params:
        return "(not available)"
    return "  ".join(f"{name} {params[name]:.6g}" for name in PARAM_NAMES[model] if name in params)


def crm_fitted_params(db_path: Path, as_of: str) -> dict[str, dict]:
    """crm's fitted parameters per model (`crm report model`, untimed); {} if unreadable."""
    result = subprocess.run(
        [str(crm_command()), "--db", str(db_path), "report", "model", "--format", "json", "--as-of", as_of],
        capture_output=True, text=True, check=False,
    )
    try:
        return {row["model"]: (json.loads(row["params"]) if isinstance(row["params"], str) else row["params"])
                for row in json.loads(result.stdout) if row.get("converged")}
    except (ValueError, KeyError, TypeError):
        return {}


def peer_params(stdout_path: Path, model: str) -> dict | None:
    """The peer prints one JSON object per fitted model."""
    try:
        for line in stdout_path.read_text().splitlines():
            row = json.loads(line)
            if row.get("model") == model:
                return row["params"]
    except (OSError, ValueError, KeyError):
        pass
    return None


def total_log_likelihood(db_path: Path, as_of: str, model: str, params: dict) -> float:
    """The model's log-likelihood of the database's customers at `params`, by crmcli's code."""
    sys.path.insert(0, str(HERE.parents[1]))
    from crmcli import db
    from crmcli.analytics import bgnbd, gamma_gamma, pareto
    from crmcli.analytics.data import load

    conn = db.connect(db_path)
    try:
        base = load(conn, date.fromisoformat(as_of))
    finally:
        conn.close()
    if model == "gamma_gamma":
        repeat = (base.x > 0) & (base.m > 0)
        return float(np.sum(gamma_gamma.log_likelihood(params, base.x[repeat], base.m[repeat])))
    module = {"bgnbd": bgnbd, "pareto": pareto}[model]
    return float(np.sum(module.log_likelihood(params, base.x, base.t_x, base.T)))


def peer_output(key: str, model: str) -> Path:
    return WORK / f"{key}.lifetimes-{model}.csv"


def peer_stdout(key: str, model: str) -> Path:
    return WORK / f"{key}.lifetimes-{model}.stdout"


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def crm_output(key: str, label: str) -> Path:
    """'crm report churn --model bgnbd' -> work/KEY.churn-model-bgnbd.csv"""
    return WORK / f"{key}.{'-'.join(w.lstrip('-') for w in label.split()[2:])}.csv"


if __name__ == "__main__":
    sys.exit(main())
