"""The backtest (analytics/backtest.py) and the complaint signal (analytics/signals.py).

On purchases simulated event by event from each model's own story (continuous time, customers
acquired over twelve weeks as in FHL's CDNOW cohort, 39 weeks of calibration and 39 of holdout), the
backtest of the matching model must predict the holdout total within 5%; the by-frequency buckets
must add up to it; the tracking curve must rise; its actual counts must match a hand count.
"""

import json
import math
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from helpers import freeze

from crmcli import customers, db, demo, errors, feedback, interactions
from crmcli.analytics import backtest, bgnbd, mbgnbd, pareto, signals

START = date(2024, 1, 1).toordinal()
ACQUIRED_OVER = 12 * 7
CALIBRATION = 39 * 7
HOLDOUT = 39 * 7

# CDNOW's published estimates (weeks, FHL 2005 and BTYDplus), in days.
PARAMS = {
    "pareto": {"r": 0.55, "alpha": 10.58 * 7, "s": 0.61, "beta": 11.67 * 7},
    "bgnbd": {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426},
    "mbgnbd": {"r": 0.525, "alpha": 6.183 * 7, "a": 0.891, "b": 1.614},
}
MODULES = {"pareto": pareto, "bgnbd": bgnbd, "mbgnbd": mbgnbd}


def simulate_events(rng, model, n, params):
    """(first day per customer, customer of each repeat purchase, its day number as a float): the model's story
    followed purchase by purchase up to the end of the holdout."""
    first = START + rng.integers(0, ACQUIRED_OVER, n)
    window = (START + CALIBRATION + HOLDOUT - first).astype(float)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], n)
    if model == "pareto":
        mu = rng.gamma(params["s"], 1.0 / params["beta"], n)
        window = np.minimum(rng.exponential(1.0 / mu), window)  # she buys only while alive
        keep = np.full(n, np.iinfo(np.int64).max)
    else:
        p = rng.beta(params["a"], params["b"], n)
        # BG/NBD: she leaves right after her k-th repeat purchase, k >= 1; MBG/NBD: after k >= 0.
        keep = rng.geometric(p) - (1 if model == "mbgnbd" else 0)
    arrivals = rng.poisson(lam * window)
    who = np.repeat(np.arange(n), arrivals)
    when = rng.random(who.size) * window[who]
    order = np.lexsort((when, who))
    who, when = who[order], when[order]
    rank = np.arange(who.size) - np.repeat(np.cumsum(arrivals) - arrivals, arrivals)
    kept = rank < keep[who]
    return first, who[kept], first[who[kept]] + when[kept]


def split_of(first, who, day, flagged=None):
    """The Split the database would give for these purchases (times continuous, as the models are)."""
    n = first.size
    cutoff, end = START + CALIBRATION, START + CALIBRATION + HOLDOUT
    before = day <= cutoff
    x = np.bincount(who[before], minlength=n).astype(float)
    t_x = np.zeros(n)
    np.maximum.at(t_x, who[before], day[before] - first[who[before]])
    holdout = np.bincount(who[~before & (day <= end)], minlength=n).astype(float)
    points = backtest.tracking_points(int(first.min()), cutoff, end)
    actual = np.searchsorted(np.sort(day), points, side="right").astype(float)
    return backtest.Split(cutoff=cutoff, end=end, x=x, t_x=t_x, T=(cutoff - first).astype(float), holdout=holdout,
                          points=points, actual_cumulative=actual,
                          flagged=np.zeros(n, dtype=bool) if flagged is None else flagged)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("model", ["pareto", "bgnbd", "mbgnbd"])
def test_matching_model_predicts_the_holdout_total_within_5_percent(model, seed):
    """60,000 customers: over 8 seeds per model the error's standard deviation was 1.0-1.2% (0.6-0.8% with the
    true parameters, the rest is the fit's), so 5% is about four standard deviations; at 20,000 it was 2.3%."""
    rng = np.random.default_rng(1000 * seed + len(model))
    first, who, day = simulate_events(rng, model, 60_000, PARAMS[model])
    data = split_of(first, who, day)
    check = backtest.run(data, {model: MODULES[model]})[0]
    assert check.fit.converged, check.fit.message
    total = backtest.summary(data.holdout, check.predicted)
    assert abs(total["error"]) < 0.05
    # The tracking expectation (no histories, only the first purchases) ends near the actual count too.
    assert check.expected_cumulative[-1] == pytest.approx(data.actual_cumulative[-1], rel=0.05)
    assert total["correlation"] > 0.3


def test_rows_buckets_add_up_and_tracking_rises():
    rng = np.random.default_rng(5)
    first, who, day = simulate_events(rng, "bgnbd", 4_000, PARAMS["bgnbd"])
    data = split_of(first, who, day)
    checks = backtest.run(data, {"bgnbd": bgnbd, "pareto": pareto})
    rows = backtest.rows(data, checks)
    assert {row["kind"] for row in rows} == {"by_frequency", "tracking", "summary"}
    assert all(set(row) == set(backtest.COLUMNS) for row in rows)
    for check in checks:
        mine = [row for row in rows if row["model"] == check.name]
        buckets = [row for row in mine if row["kind"] == "by_frequency"]
        (summary,) = [row for row in mine if row["kind"] == "summary"]
        assert [row["bucket"] for row in buckets] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
        assert sum(row["customers"] for row in buckets) == summary["customers"] == len(first)
        assert sum(row["actual"] for row in buckets) == summary["actual"] == data.holdout.sum()
        assert sum(row["predicted"] for row in buckets) == pytest.approx(summary["predicted"], rel=1e-12)
        tracking = [row for row in mine if row["kind"] == "tracking"]
        for key in ("actual", "predicted"):
            values = [row[key] for row in tracking]
            assert all(b >= a for a, b in zip(values, values[1:], strict=False)), key
        assert [row["week"] for row in tracking][-1] == HOLDOUT // 7
        assert 0 in [row["week"] for row in tracking]
        # The tracking's actual rise over the holdout is the holdout total.
        at_cutoff = next(row["actual"] for row in tracking if row["week"] == 0)
        assert tracking[-1]["actual"] - at_cutoff == summary["actual"]
        assert summary["mae"] == pytest.approx(np.abs(check.predicted - data.holdout).mean())


def test_expected_cumulative_is_the_sum_of_each_customers_expectation():
    params = PARAMS["pareto"]
    first = np.array([10, 10, 13, 20])
    points = np.array([9, 10, 11, 15, 30])
    got = backtest.expected_cumulative(pareto, params, first, points)
    by_hand = [sum(float(pareto.expected_purchases_new(params, p - f)) for f in first if p > f) for p in points]
    assert got == pytest.approx(by_hand, rel=1e-12)
    assert got[0] == got[1] == 0.0


def test_default_holdout_and_its_limits():
    assert backtest.default_holdout(0, 365) == 119  # 365 / 3 = 121.7 days: 17 weeks
    assert backtest.default_holdout(0, 546) == 182  # FHL's 78 weeks: 26 of them
    assert backtest.default_holdout(0, 60) == 28  # at least four weeks
    assert backtest.window(0, 365, None) == 365 - 119
    assert backtest.window(0, 365, 100) == 265
    with pytest.raises(backtest.TooLittleData, match="at least 56"):
        backtest.window(0, 50, None)
    with pytest.raises(errors.InvalidInput, match="at least 7") as short:
        backtest.window(0, 365, 3)
    assert short.value.field == "holdout" and short.value.value == 3
    with pytest.raises(errors.InvalidInput, match="at most 337 days"):
        backtest.window(0, 365, 340)
    with pytest.raises(errors.InvalidInput, match="at least 7"):
        backtest.window(0, 365, -5)


def test_tracking_points_are_weeks_from_the_cut_off():
    assert list(backtest.tracking_points(0, 20, 34)) == [6, 13, 20, 27, 34]
    # A holdout of part weeks ends on as-of all the same.
    assert list(backtest.tracking_points(3, 20, 30)) == [6, 13, 20, 27, 30]


NOW = datetime(2026, 6, 30, 12, 0, 0)  # the demo data do not depend on it


def _buy(conn, ref, *days, type_="purchase"):
    for day in days:
        interactions.add(conn, ref, type_, at=f"{day}T10:00:00", amount="10.00")


def test_split_counts_a_hand_made_shop(conn, monkeypatch):
    """Five customers, counted by hand: purchase days (two receipts on a day are one), refunds not counted,
    a customer who first bought after the cut-off left out."""
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        refs = [customers.add(conn, f"Customer {n}") for n in range(5)]
        _buy(conn, refs[0], "2026-01-05", "2026-01-05", "2026-01-20", "2026-03-01", "2026-05-10")
        _buy(conn, refs[1], "2026-01-12", "2026-04-05")
        _buy(conn, refs[1], "2026-02-01", type_="refund")
        _buy(conn, refs[2], "2026-02-10")
        _buy(conn, refs[3], "2026-04-01", "2026-04-02", "2026-05-01")  # after the cut-off: not in the calibration
        _buy(conn, refs[4], "2026-03-29", "2026-03-29", "2026-03-30")  # the cut-off day counts as calibration
    as_of = date(2026, 5, 31)
    cutoff = date(2026, 3, 29)  # 63 days before
    with db.snapshot(conn):
        data = backtest.split(conn, as_of, 63)
    assert data.cutoff == cutoff.toordinal() and data.holdout_days == 63
    assert list(data.x) == [2, 0, 0, 0]  # customers 0, 1, 2, 4
    assert list(data.holdout) == [1, 1, 0, 1]
    points = [date.fromordinal(int(p)) for p in data.points]
    assert points[0] == date(2026, 1, 11) and points[-1] == as_of
    assert date(2026, 3, 29) in points
    # Repeat purchase days of customers 0, 1, 2 and 4 by each point, counted by hand.
    repeat_days = [date(2026, 1, 20), date(2026, 3, 1), date(2026, 3, 30), date(2026, 4, 5), date(2026, 5, 10)]
    assert list(data.actual_cumulative) == [sum(d <= p for d in repeat_days) for p in points]
    assert data.actual_cumulative[-1] == 5


def test_split_reads_complaints_and_low_ratings_as_of_the_cut_off(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        refs = [customers.add(conn, f"Customer {n}") for n in range(4)]
        for ref in refs:
            _buy(conn, ref, "2026-01-05", "2026-02-05")
        feedback.add(conn, refs[0], "complaint", at="2026-02-10T09:00:00", note="late")  # open at the cut-off
        feedback.add(conn, refs[1], "suggestion", rating=1, at="2026-05-10T09:00:00")  # after the cut-off
        feedback.add(conn, refs[2], "complaint", at="2026-02-10T09:00:00", resolved_at="2026-02-12T09:00:00")
        feedback.add(conn, refs[3], "suggestion", rating=2, at="2026-03-01T09:00:00")
    with db.snapshot(conn):
        data = backtest.split(conn, date(2026, 5, 31), 63)
    assert list(data.flagged) == [True, False, False, True]


def test_no_purchases_is_too_little_data(conn):
    with db.snapshot(conn), pytest.raises(backtest.TooLittleData, match="no purchases"):
        backtest.split(conn, date(2026, 5, 31))


def test_too_few_repeat_buyers_says_how_many_are_needed():
    data = backtest.Split(cutoff=START + 100, end=START + 200, x=np.array([1.0, 0, 0]), t_x=np.array([5.0, 0, 0]),
                          T=np.array([50.0, 40, 30]), holdout=np.zeros(3), points=np.array([START + 100]),
                          actual_cumulative=np.zeros(1))
    with pytest.raises(backtest.TooLittleData, match=r"1 of 3 buyers bought more than once; a fit needs at least "
                       r"100 buyers \(97 more\) and 20 repeat buyers \(19 more\)"):
        backtest.run(data)


# The complaint signal.

def _flagged_split(seed, leave_share):
    """Pareto/NBD customers; a tenth flagged at the cut-off, and `leave_share` of those leave right then."""
    rng = np.random.default_rng(seed)
    first, who, day = simulate_events(rng, "pareto", 20_000, PARAMS["pareto"])
    flagged = rng.random(first.size) < 0.10
    leaves = flagged & (rng.random(first.size) < leave_share)
    after = day > START + CALIBRATION
    keep = ~(leaves[who] & after)
    return split_of(first, who[keep], day[keep], flagged)


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_complaint_signal_supported_when_flagged_customers_leave(seed):
    data = _flagged_split(seed, leave_share=0.6)
    check = backtest.run(data, {"pareto": pareto})[0]
    signal = signals.from_check(data, check)
    assert signal.supported, signal
    assert signal.high < 1 and signal.low < signal.lift < signal.high
    assert signal.lift == pytest.approx(0.4, abs=0.12)  # 60% of them gone: about 40% of the purchases
    assert "supported" in signal.reason
    json.dumps(signal.as_json())  # storable as it is


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_complaint_signal_not_supported_when_flags_say_nothing(seed):
    data = _flagged_split(seed, leave_share=0.0)
    check = backtest.run(data, {"pareto": pareto})[0]
    signal = signals.from_check(data, check)
    assert not signal.supported
    assert signal.low <= 1 <= signal.high, signal


def test_lift_interval_covers_no_effect_about_95_percent_of_the_time():
    """Overdispersed counts (negative binomial) around known predictions, flags unrelated to them: the interval
    excludes 1 in about 5% of 400 replications (it would be far more for a Poisson interval)."""
    rng = np.random.default_rng(3)
    n, excluded, below = 3_000, 0, 0
    for _ in range(400):
        predicted = rng.gamma(0.5, 2.0, n)
        shape = 0.4  # variance = mean + mean^2 / shape
        actual = rng.poisson(rng.gamma(shape, predicted / shape))
        flagged = rng.random(n) < 0.1
        _, low, high = signals.lift(actual, predicted, flagged)
        excluded += not low <= 1 <= high
        below += high < 1
    assert 0.02 <= excluded / 400 <= 0.085
    assert below / 400 <= 0.05


def test_lift_when_flagged_customers_bought_nothing():
    predicted = np.array([1.0, 2.0, 1.0, 1.0, 2.0, 1.0])
    actual = np.array([0, 0, 0, 2, 1, 3])
    flagged = np.array([True, True, True, False, False, False])
    value, low, high = signals.lift(actual, predicted, flagged)
    assert value == low == 0.0
    assert high == pytest.approx(-math.log(0.025) / 4.0 / (6 / 4))


def test_lift_by_hand():
    predicted = np.array([1.0, 3.0, 2.0, 2.0, 4.0])
    actual = np.array([1, 1, 2, 3, 5])
    flagged = np.array([True, True, False, False, False])
    value, low, high = signals.lift(actual, predicted, flagged)
    ratio_f, ratio_u = 2 / 4, 10 / 8
    assert value == pytest.approx(ratio_f / ratio_u)
    var_f = 2 / 1 * ((1 - ratio_f * 1) ** 2 + (1 - ratio_f * 3) ** 2) / 2**2
    var_u = 3 / 2 * ((2 - ratio_u * 2) ** 2 + (3 - ratio_u * 2) ** 2 + (5 - ratio_u * 4) ** 2) / 10**2
    se = math.sqrt(var_f + var_u)
    assert low == pytest.approx(value * math.exp(-1.959963984540054 * se))
    assert high == pytest.approx(value * math.exp(1.959963984540054 * se))


def test_complaint_signal_on_a_database(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    rng = np.random.default_rng(4)
    with db.transaction(conn):
        for n in range(120):
            ref = customers.add(conn, f"Customer {n}")
            start = date(2025, 1, 1) + timedelta(days=int(rng.integers(0, 60)))
            days = sorted({start + timedelta(days=int(d)) for d in rng.integers(1, 500, rng.integers(0, 8))})
            _buy(conn, ref, start.isoformat(), *(d.isoformat() for d in days if d <= date(2026, 6, 1)))
            if n % 8 == 0:
                feedback.add(conn, ref, "complaint", at="2025-06-01T09:00:00", note="slow")
    with db.snapshot(conn):
        signal = signals.complaint_signal(conn, date(2026, 6, 1), "pareto")
        assert signals.complaint_signal(conn, date(2026, 6, 1), "auto") is None  # not a purchase model
        assert signals.complaint_signal(conn, date(2026, 6, 1), "pareto_limit") == signal
    assert signal is not None
    assert signal.flagged == 15 and signal.flagged + signal.unflagged == 120
    assert json.loads(json.dumps(signal.as_json()))["model"] in ("pareto", "pareto_limit")


# The demo shop, as README's "Backtest" shows it.

README_NAMES = {"bgnbd": "BG/NBD", "pareto": "Pareto/NBD", "pareto_limit": "Pareto/NBD's limit", "mbgnbd": "MBG/NBD"}


@pytest.mark.parametrize("count, holdout_days", [(200, 301), (2000, 301)])
def test_backtest_on_demo_data(conn, monkeypatch, count, holdout_days):
    """`crm demo` (seed 1) and `crm demo --customers 2000`, backtested as `crm report model --backtest` does:
    README prints these figures, and the demo's data do not depend on the day it was made."""
    from pathlib import Path

    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=count, seed=1)
    with db.snapshot(conn):
        data = backtest.split(conn, NOW.date())
        checks = backtest.run(data)
    assert data.holdout_days == holdout_days  # a third of the span, in whole weeks
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for check in checks:
        total = backtest.summary(data.holdout, check.predicted)
        figures = (f"{README_NAMES[check.name]} {total['predicted']:,.1f} against {total['actual']:,.0f} "
                   f"({total['error']:+.1%}, correlation {total['correlation']:.2f})")
        assert figures in readme, figures
        signal = signals.from_check(data, check)
        if count == 2000:  # the demo's unhappy customers do leave: the signal is found
            assert signal.supported and signal.high < 0.5, signal
        else:  # 7 flagged customers are too few to judge
            assert signal.lift is None and not signal.supported


def test_charts_with_an_empty_bucket_and_a_failed_fit(tmp_path):
    """No customer with 5 or 6 repeat purchase days (their means are NaN) and one model with no prediction at
    all: the terminal charts and the chart file are drawn all the same (plotext aborts the process on a NaN)."""
    from crmcli.analytics.fitting import FitResult
    from crmcli.output import charts

    rng = np.random.default_rng(8)
    first, who, day = simulate_events(rng, "bgnbd", 3_000, PARAMS["bgnbd"])
    data = split_of(first, who, day)
    keep = (data.x < 5) | (data.x > 6)
    data = backtest.Split(cutoff=data.cutoff, end=data.end, x=data.x[keep], t_x=data.t_x[keep], T=data.T[keep],
                          holdout=data.holdout[keep], points=data.points, actual_cumulative=data.actual_cumulative,
                          flagged=np.zeros(int(keep.sum()), dtype=bool))
    good = backtest.run(data, {"bgnbd": bgnbd})[0]
    failed = backtest.ModelCheck("pareto", FitResult("pareto", {"r": math.nan}, math.nan, 0, 0, False, "no fit"),
                                 pareto, np.full(len(data.x), np.nan), np.full(len(data.points), np.nan))
    found = {check.name: signals.from_check(data, check) for check in (good, failed)}
    assert found["pareto"].reason == "no prediction: the pareto model could not be fitted"
    rows = backtest.rows(data, [good, failed], {name: signal.as_json() for name, signal in found.items()})
    assert [row["customers"] for row in rows if row["kind"] == "by_frequency"][5:7] == [0, 0]
    text = charts.terminal_charts(rows, 120, colour=False)
    assert "Cumulative repeat purchase days" in text and "7+" in text
    target = tmp_path / "chart.png"
    charts.write_plot(rows, target, "a title")
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
