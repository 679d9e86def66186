"""Fit timings on simulated bases: `python tests/benchmarks/bench_fit.py` (from the repository root).

Two bases of 100,000 customers for each model (Pareto/NBD, BG/NBD, MBG/NBD and Pareto/NBD's
homogeneous drop-out limit), simulated from the models:
- "days": parameters in days, whole days over one to three years, as the
  product sees them (tens of thousands of distinct (x, t_x, T) histories);
- "weeks": CDNOW-like, the published weekly parameters, observed 27 to 78
  whole weeks (a few thousand distinct histories).
And "late": each model's "days" data observed 335 days (11 months) later (a shop that imports its
history and reports months later), plus the Pareto/NBD data of issue 15 (r 1.97, alpha 36.5, s 0.85,
beta 191) so observed, which drives Pareto/NBD's fit along s, beta -> infinity until it takes the limit
model (ridge.py); it prints which model each fit ended with.
Prints the best of three runs of each model's own fit, wall-clock and CPU seconds; then, on every base,
one run of `--model auto` (the three candidates fitted and the lowest BIC taken, choose.py): its time and
which model it chose. Every fit is bounded by a budget of likelihood evaluations (fitting.py, ridge.py).
"""

import functools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "analytics"))
import _simulate as sim  # noqa: E402

from crmcli.analytics import bgnbd, choose, gamma_gamma, mbgnbd, pareto, pareto_limit  # noqa: E402

N = 100_000


def bases(seed=1):
    rng = np.random.default_rng(seed)
    T_days = sim.observation_lengths(rng, N)
    T_weeks = sim.observation_lengths(rng, N, 27, 78)
    out = {}
    for name, simulate, days, weeks in [
        ("bgnbd", sim.bgnbd, dict(r=0.25, alpha=4.0, a=0.8, b=2.5), dict(r=0.243, alpha=4.414, a=0.793, b=2.426)),
        ("pareto", sim.pareto, dict(r=0.55, alpha=10.5, s=0.6, beta=11.7),
         dict(r=0.55, alpha=10.58, s=0.61, beta=11.67)),
        ("mbgnbd", sim.mbgnbd, dict(r=0.525, alpha=43.3, a=0.891, b=1.614),
         dict(r=0.525, alpha=6.183, a=0.891, b=1.614)),
        ("pareto_limit", sim.pareto_limit, dict(r=0.55, alpha=10.5, mu=0.003), dict(r=0.55, alpha=10.58, mu=0.02)),
    ]:
        for unit, T, params in [("days", T_days, days), ("weeks", T_weeks, weeks)]:
            x, t_x = simulate(rng, N, **params, T=T)
            out[name, unit] = (x, np.minimum(np.ceil(t_x), T), T)
        x, t_x, T = out[name, "days"]
        out[name, "late"] = (x, t_x, T + 335.0)
    x, t_x = sim.pareto(rng, N, r=1.97, alpha=36.5, s=0.85, beta=191.0, T=T_days)
    out["pareto", "late-15"] = (x, np.minimum(np.ceil(t_x), T_days), T_days + 335.0)
    return out


def auto(x, t_x, T):
    """--model auto on one base: the three candidates fitted, then the choice."""
    return choose.choose({"pareto": pareto.fit(x, t_x, T), "bgnbd": bgnbd.fit(x, t_x, T),
                          "mbgnbd": mbgnbd.fit(x, t_x, T)})


def best_of_three(fn):
    runs = []
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    return min(runs), result


def main():
    data = bases()
    modules = {"bgnbd": bgnbd, "pareto": pareto, "mbgnbd": mbgnbd, "pareto_limit": pareto_limit}
    for (name, unit), (x, t_x, T) in data.items():
        rows = len(np.unique(np.column_stack([x, t_x, T]), axis=0))
        (wall, cpu), fit = best_of_three(functools.partial(modules[name].fit, x, t_x, T))
        print(f"{name:12} {unit:7} {N} customers, {rows:6} distinct histories: {wall:.2f} s wall, {cpu:.2f} s CPU, "
              f"converged={fit.converged}, {fit.iterations} iterations, params {sorted(fit.params)}", flush=True)
    for (name, unit), (x, t_x, T) in data.items():
        wall, cpu = time.perf_counter(), time.process_time()
        choice = auto(x, t_x, T)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"auto on {name:12} {unit:7}: {wall:.2f} s wall, {cpu:.2f} s CPU; {choice.message}", flush=True)
    rng = np.random.default_rng(2)
    xg = rng.integers(1, 11, N).astype(float)
    m = sim.gamma_gamma(rng, xg, 6.0, 4.0, 16.0)
    (wall, cpu), fit = best_of_three(lambda: gamma_gamma.fit(xg, m))
    print(f"gamma_gamma  {N} repeat buyers: {wall:.2f} s wall, {cpu:.2f} s CPU, converged={fit.converged}")


if __name__ == "__main__":
    main()
