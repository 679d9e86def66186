"""A backtest people can look at: fit on the history before a cut-off, predict the holdout, compare.

As Fader, Hardie & Lee (2005, "Counting your customers the easy way") check BG/NBD on CDNOW, with the
data's definitions (data.py): a transaction is a purchase day, the calibration is the shop as of the
cut-off day (purchases on it count), and the holdout is the days after it up to and including as-of.
The calibration customers are those with a first purchase on or before the cut-off; customers who
first bought in the holdout are in no comparison (no model predicts who arrives).

- by frequency: each calibration customer's conditional expectation of her holdout repeat purchase
  days given her calibration history, against what she did, added up by her calibration repeat
  purchase days 0, 1, ..., 6 and 7+ (FHL's conditional expectations, plotted as means per customer);
- tracking: cumulative repeat purchase days week by week over calibration and holdout, against
  the model's expectation without the customers' histories, sum over the calibration customers of
  E[X(t - t_i)] with t_i her first purchase (FHL's tracking plot);
- summary: the holdout total's error (predicted / actual - 1), and per customer the correlation and
  the mean absolute error between predicted and actual.

The default holdout is a third of the span from the first purchase to as-of, rounded to whole weeks
and at least four weeks (FHL: 39 weeks of 78); the calibration must keep at least four weeks too.
Every purchase model in fitset.MODELS is backtested, read when run (a Pareto/NBD fit that ends on its
homogeneous drop-out ridge is the limit model and is named so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from crmcli import sql
from crmcli.analytics import heuristic
from crmcli.analytics.data import load
from crmcli.analytics.fitting import FitResult
from crmcli.db import Connection
from crmcli.errors import InvalidInput

MIN_HOLDOUT_DAYS = 7
MIN_CALIBRATION_DAYS = 28
DEFAULT_MIN_HOLDOUT_DAYS = 28
TOP_BUCKET = 7  # calibration repeat purchase days 7 or more are one bucket, "7+"
WEEK = 7

# The machine rows' one shape: every row has every key (None where it does not apply).
COLUMNS = ("kind", "model", "bucket", "week", "day", "customers", "actual", "predicted", "error", "correlation",
           "mae", "lift", "low", "high", "supported", "cutoff", "holdout_days")

# Every purchase's customer and day number (date.toordinal()), read along the covering index
# (customer_id, type, at) with no table lookups. Sorting them and picking out the purchase days and each
# customer's first is left to numpy (_repeat_days_by): a GROUP BY customer and day, a window for the first
# day, or even an ORDER BY costs SQLite a temporary B-tree over every purchase, 2-3x slower at 1.7
# million purchases.
_PURCHASE_DAYS_SQL = f"""
SELECT customer_id, CAST(julianday({sql.DAY}) - :julian_ordinal AS INTEGER)
  FROM interactions INDEXED BY interactions_customer_type_at
 WHERE type = 'purchase' AND at < :end
"""
# julianday('0001-01-01') - date(1, 1, 1).toordinal(), as in data.py.
_JULIAN_ORDINAL = 1721424.5
_FETCH_ROWS = 50_000


class TooLittleData(Exception):
    """Not enough history for a backtest; the message says how much there is and how much is needed."""


@dataclass
class Split:
    """The calibration histories at the cut-off and what the same customers did after it.

    Days are day numbers, date.toordinal() (a simulation picks its own dates)."""

    cutoff: int
    end: int  # as-of: the holdout is (cutoff, end]
    x: np.ndarray  # calibration repeat purchase days
    t_x: np.ndarray
    T: np.ndarray  # cutoff - first purchase day
    holdout: np.ndarray  # repeat purchase days in the holdout, per calibration customer
    points: np.ndarray  # the tracking plot's days, ascending (each counts purchases up to and including it)
    actual_cumulative: np.ndarray  # the calibration customers' repeat purchase days by each point
    flagged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # open complaint / low rating

    @property
    def holdout_days(self) -> int:
        return self.end - self.cutoff

    @property
    def first(self) -> np.ndarray:
        return self.cutoff - self.T

    @property
    def weeks(self) -> np.ndarray:
        """Each tracking point's week relative to the cut-off (0 at it, negative before; a part week is a week)."""
        return np.ceil((self.points - self.cutoff) / WEEK).astype(int)


@dataclass
class ModelCheck:
    """One model's fit on the calibration and its predictions for the holdout."""

    name: str  # the model as fitted: pareto, pareto_limit, bgnbd, mbgnbd
    fit: FitResult
    module: Any
    predicted: np.ndarray  # conditional expectation of each customer's holdout repeat purchase days
    expected_cumulative: np.ndarray  # at Split.points, from the first purchases alone


def default_holdout(first_day: int, end: int) -> int:
    """A third of the span from the first purchase to as-of, in whole weeks, at least four weeks."""
    weeks = round((end - first_day) / 3 / WEEK)
    return max(WEEK * weeks, DEFAULT_MIN_HOLDOUT_DAYS)


def window(first_day: int, end: int, holdout_days: int | None) -> int:
    """The cut-off day for a holdout of `holdout_days` (None: the default). InvalidInput for a holdout
    outside what any data allows or what this shop's span allows; TooLittleData when the default does
    not fit the span."""
    span = end - first_day
    if holdout_days is not None:
        if holdout_days < MIN_HOLDOUT_DAYS:
            raise InvalidInput("holdout", holdout_days, f"must be at least {MIN_HOLDOUT_DAYS} days (a week)")
        if span - holdout_days < MIN_CALIBRATION_DAYS:
            longest = span - MIN_CALIBRATION_DAYS
            allowed = f"at most {longest} days here" if longest >= MIN_HOLDOUT_DAYS else "impossible here"
            raise InvalidInput("holdout", holdout_days, f"leaves less than {MIN_CALIBRATION_DAYS} days of history "
                               f"before the cut-off: the purchases span {span} days, so a holdout is {allowed}")
        return end - holdout_days
    chosen = default_holdout(first_day, end)
    if span - chosen < MIN_CALIBRATION_DAYS:
        raise TooLittleData(f"the purchases span {span} days; a backtest needs at least "
                            f"{MIN_CALIBRATION_DAYS + DEFAULT_MIN_HOLDOUT_DAYS} ({MIN_CALIBRATION_DAYS} days to fit "
                            f"on and {DEFAULT_MIN_HOLDOUT_DAYS} to compare with)")
    return end - chosen


def split(conn: Connection, as_of: date, holdout_days: int | None = None) -> Split:
    """The shop's calibration and holdout as of `as_of` (inside the caller's snapshot)."""
    later = load(conn, as_of)
    if not len(later):
        raise TooLittleData("there are no purchases yet")
    end = as_of.toordinal()
    cutoff = window(int(end - later.T.max()), end, holdout_days)
    cut_day = date.fromordinal(cutoff)
    calibration = load(conn, cut_day)
    # Both bases are in customer order, and every calibration customer is in the later one.
    at = np.searchsorted(later.customer_id, calibration.customer_id)
    first = cutoff - calibration.T
    points = tracking_points(int(first.min()) if len(first) else cutoff, cutoff, end)
    return Split(cutoff=cutoff, end=end, x=calibration.x, t_x=calibration.t_x, T=calibration.T,
                 holdout=later.x[at] - calibration.x, points=points,
                 actual_cumulative=_repeat_days_by(conn, cut_day, as_of, points),
                 flagged=(calibration.open_complaints > 0) | (calibration.low_ratings > 0))


def tracking_points(first_day: int, cutoff: int, end: int) -> np.ndarray:
    """Weekly days counted back from the cut-off to the first purchase and on to as-of (as-of itself
    the last point even when the holdout is not whole weeks)."""
    before = np.arange(cutoff, first_day - 1, -WEEK)[::-1]
    after = np.arange(cutoff + WEEK, end + 1, WEEK)
    points = np.concatenate([before, after])
    return points if points[-1] == end else np.append(points, end)


def _repeat_days_by(conn: Connection, cutoff: date, as_of: date, points: np.ndarray) -> np.ndarray:
    """Repeat purchase days by each point of the customers whose first purchase is on or before the cut-off."""
    cursor = conn.execute(_PURCHASE_DAYS_SQL, {"end": as_of.isoformat() + "~", "julian_ordinal": _JULIAN_ORDINAL})
    chunks = []
    while batch := cursor.fetchmany(_FETCH_ROWS):
        chunks.append(np.array(batch, dtype=np.int64))
    if not chunks:
        return np.zeros(points.shape)
    customer, day = np.concatenate(chunks).T
    order = np.lexsort((day, customer))
    customer, day = customer[order], day[order]
    new_customer = np.concatenate([[True], customer[1:] != customer[:-1]])
    new_day = new_customer | np.concatenate([[True], day[1:] != day[:-1]])
    # Each row's customer's first day: the day of the last row that started a customer.
    first = day[np.maximum.accumulate(np.where(new_customer, np.arange(day.size), 0))]
    repeat = new_day & ~new_customer & (first <= cutoff.toordinal())
    days = np.sort(day[repeat])
    return np.searchsorted(days, points, side="right").astype(float)


def purchase_models() -> dict[str, Any]:
    """The purchase models registered now (fitset.MODELS, read at call time; entries that are not a model,
    such as a choosing "auto", are left out)."""
    from crmcli.analytics import fitset

    return {name: module for name, module in fitset.MODELS.items()
            if hasattr(module, "fit") and hasattr(module, "expected_purchases_new")}


def check_model(name: str, module: Any, data: Split) -> ModelCheck:
    """Fit `module` on the calibration and predict the holdout, per customer and along the tracking points."""
    fit = module.fit(data.x, data.t_x, data.T)
    params = fit.params
    fitted = module.model_name(params) if hasattr(module, "model_name") else name
    if not all(math.isfinite(float(v)) for v in params.values()):
        nothing = np.full(len(data.x), np.nan)
        return ModelCheck(fitted, fit, module, nothing, np.full(len(data.points), np.nan))
    predicted = module.expected_purchases(params, float(data.holdout_days), data.x, data.t_x, data.T)
    return ModelCheck(fitted, fit, module, np.asarray(predicted, dtype=float),
                      expected_cumulative(module, params, data.first, data.points))


def expected_cumulative(module: Any, params: dict, first: np.ndarray, points: np.ndarray) -> np.ndarray:
    """sum_i E[X(point - first_i)] over the customers acquired by each point (FHL's tracking expectation).

    E[X(t)] is computed once per whole number of days of age; the sum over first-purchase days is then a
    convolution of the customers acquired per day with it (numpy's, in place of a points x days table)."""
    first = np.asarray(first, dtype=np.int64)
    points = np.asarray(points, dtype=np.int64)
    if not first.size:
        return np.zeros(points.shape)
    origin = int(first.min())
    ages = np.arange(int(points.max()) - origin + 1, dtype=float)
    per_age = np.zeros(ages.shape)
    per_age[1:] = module.expected_purchases_new(params, ages[1:])
    acquired = np.bincount(first - origin).astype(float)
    by_day = np.convolve(acquired, per_age)[:ages.size]  # by_day[k] = sum_j acquired[j] per_age[k - j]
    return np.where(points >= origin, by_day[np.clip(points - origin, 0, None)], 0.0)


def enough_to_fit(data: Split) -> str | None:
    """Why the calibration cannot be fitted (None when it can), in history.shortfall's words."""
    if heuristic.can_fit(data.x):
        return None
    from crmcli.analytics.history import shortfall

    return f"before the cut-off {_day(data.cutoff)}, " + shortfall(int(np.count_nonzero(data.x > 0)), len(data.x))


def run(data: Split, models: dict[str, Any] | None = None) -> list[ModelCheck]:
    """Every purchase model's check on `data`; TooLittleData if the calibration cannot be fitted."""
    if (why := enough_to_fit(data)) is not None:
        raise TooLittleData(why)
    return [check_model(name, module, data) for name, module in (models or purchase_models()).items()]


def buckets(x: np.ndarray) -> np.ndarray:
    """0, 1, ..., TOP_BUCKET: a customer's calibration repeat purchase days, TOP_BUCKET and more together."""
    return np.minimum(np.asarray(x, dtype=np.int64), TOP_BUCKET)


def bucket_label(bucket: int) -> str:
    return f"{bucket}+" if bucket == TOP_BUCKET else str(bucket)


def summary(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The holdout total's error and the per-customer correlation and mean absolute error."""
    total_actual, total_predicted = float(actual.sum()), float(predicted.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = actual.std() > 0 and predicted.std() > 0
        correlation = float(np.corrcoef(actual, predicted)[0, 1]) if spread else float("nan")
    return {"actual": total_actual, "predicted": total_predicted,
            "error": total_predicted / total_actual - 1.0 if total_actual else float("nan"),
            "correlation": correlation, "mae": float(np.abs(predicted - actual).mean())}


def rows(data: Split, checks: list[ModelCheck], signals: dict[str, dict] | None = None) -> list[dict[str, Any]]:
    """The machine rows: per model, by_frequency, tracking, summary and (with `signals`) complaints."""
    out: list[dict[str, Any]] = []
    blank = dict.fromkeys(COLUMNS)
    bucket = buckets(data.x)
    days = [_day(int(d)) for d in data.points]
    for check in checks:
        for b in range(TOP_BUCKET + 1):
            mine = bucket == b
            out.append({**blank, "kind": "by_frequency", "model": check.name, "bucket": bucket_label(b),
                        "customers": int(mine.sum()), "actual": float(data.holdout[mine].sum()),
                        "predicted": float(check.predicted[mine].sum())})
        for week, day, actual, expected in zip(data.weeks, days, data.actual_cumulative, check.expected_cumulative,
                                               strict=True):
            out.append({**blank, "kind": "tracking", "model": check.name, "week": int(week), "day": day,
                        "actual": float(actual), "predicted": float(expected)})
        out.append({**blank, "kind": "summary", "model": check.name, "customers": len(data.x),
                    **summary(data.holdout, check.predicted), "cutoff": _day(data.cutoff),
                    "holdout_days": data.holdout_days})
        if signals and (signal := signals.get(check.name)) is not None:
            out.append({**blank, "kind": "complaints", "model": check.name, "customers": signal["flagged"],
                        "actual": signal["flagged_actual"], "predicted": signal["flagged_predicted"],
                        "lift": signal["lift"], "low": signal["low"], "high": signal["high"],
                        "supported": signal["supported"], "cutoff": _day(data.cutoff),
                        "holdout_days": data.holdout_days})
    return out


def _day(day: int) -> str:
    return date.fromordinal(int(day)).isoformat()


def describe(data: Split) -> str:
    """The window in words, for a note."""
    start = _day(int(data.first.min())) if len(data.x) else _day(data.cutoff)
    return (f"backtest: fitted on purchases from {start} to the cut-off {_day(data.cutoff)} "
            f"({len(data.x):,} customers), predicting the {data.holdout_days} days to {_day(data.end)}")
