"""Complaints as a churn signal, measured on the shop's own backtest (backtest.py).

The question: did the customers with an open complaint or a low rating (1 or 2) at the cut-off (data.py's
open_complaints and low_ratings as of that day) buy less in the holdout than the purchase model
predicted from their purchase histories, compared with everyone else? The model's own prediction is
the yardstick, so the signal is what complaints say beyond recency and frequency:

    lift = (A_f / P_f) / (A_u / P_u)

with A the actual and P the predicted holdout repeat purchase days, summed over the flagged (f) and
unflagged (u) calibration customers. Below 1, flagged customers bought less than their histories
promised; dividing by the unflagged ratio takes out the model's error that everyone shares.

The 95% interval is for log(lift), by the delta method with each group's ratio A/P treated as a ratio
estimator over its customers (Cochran 1977, Sampling Techniques, 6.3):
var(log(A/P)) ~ n/(n-1) sum_i (a_i - (A/P) p_i)^2 / A^2. It uses the customers' own spread around
their predictions, so it holds for overdispersed counts (a Poisson rate-ratio interval would be too
narrow: a customer's holdout purchases vary more than a Poisson count given her history). It costs
one pass over the customers and no resampling. When the flagged customers made no holdout purchase at
all (log(0)), the lift is 0 and its upper bound is the exact Poisson bound for zero events (-ln 0.025
= 3.69 purchase days) over the flagged prediction, scaled as the lift is.

The verdict is "supported" only when the whole interval lies below 1: the flagged customers bought
significantly less than predicted relative to the others. Too few flagged customers (under
MIN_FLAGGED) or too few predicted purchase days among them (under MIN_PREDICTED) give no verdict.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np

from crmcli.analytics import backtest
from crmcli.db import Connection

Z_95 = 1.959963984540054  # the standard normal's 97.5% point
ZERO_EVENTS_UPPER = -math.log(0.025)  # exact Poisson upper 97.5% bound on the mean after 0 events
MIN_FLAGGED = 10
MIN_PREDICTED = 5.0
METHOD = "delta method on log(lift), ratio estimators per group (Cochran 1977, 6.3)"


@dataclass(frozen=True)
class Signal:
    """The complaint signal of one backtest: plain numbers, so it can be stored as JSON (as_json)."""

    model: str
    cutoff: str
    holdout_days: int
    flagged: int  # calibration customers with an open complaint or a low rating at the cut-off
    unflagged: int
    flagged_actual: float
    flagged_predicted: float
    unflagged_actual: float
    unflagged_predicted: float
    lift: float | None  # None: no verdict possible (too few flagged customers or predictions)
    low: float | None
    high: float | None
    supported: bool
    reason: str  # the verdict in words
    method: str = METHOD

    def as_json(self) -> dict[str, Any]:
        return {key: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for key, v in asdict(self).items()}


def lift(actual, predicted, flagged) -> tuple[float, float, float] | None:
    """(lift, low, high) with a 95% interval, or None when either group has nothing to compare."""
    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    flagged = np.asarray(flagged, dtype=bool)
    groups = [(actual[flagged], predicted[flagged]), (actual[~flagged], predicted[~flagged])]
    if any(len(a) < 2 or p.sum() <= 0 for a, p in groups):
        return None
    (a_f, p_f), (a_u, p_u) = groups
    if a_u.sum() == 0:
        return None  # nobody bought in the holdout: no yardstick
    unflagged_ratio = a_u.sum() / p_u.sum()
    if a_f.sum() == 0:
        return 0.0, 0.0, ZERO_EVENTS_UPPER / p_f.sum() / unflagged_ratio
    log_lift = math.log(a_f.sum() / p_f.sum()) - math.log(unflagged_ratio)
    se = math.sqrt(_log_ratio_variance(a_f, p_f) + _log_ratio_variance(a_u, p_u))
    return math.exp(log_lift), math.exp(log_lift - Z_95 * se), math.exp(log_lift + Z_95 * se)


def _log_ratio_variance(actual: np.ndarray, predicted: np.ndarray) -> float:
    """var(log(sum a / sum p)) by linearisation: the residuals a_i - R p_i about the ratio R."""
    n = len(actual)
    ratio = actual.sum() / predicted.sum()
    residuals = actual - ratio * predicted
    return float(n / (n - 1) * np.square(residuals).sum() / actual.sum() ** 2)


def from_check(data: backtest.Split, check: backtest.ModelCheck) -> Signal:
    """The signal of one model's backtest."""
    flagged = data.flagged
    a, p = data.holdout, check.predicted
    counts: dict[str, Any] = {"flagged": int(flagged.sum()), "unflagged": int((~flagged).sum()),
              "flagged_actual": float(a[flagged].sum()), "flagged_predicted": float(p[flagged].sum()),
              "unflagged_actual": float(a[~flagged].sum()), "unflagged_predicted": float(p[~flagged].sum())}
    common: dict[str, Any] = {"model": check.name, "cutoff": date.fromordinal(data.cutoff).isoformat(),
              "holdout_days": data.holdout_days, **counts}
    if not np.isfinite(p).all():
        return Signal(**common, lift=None, low=None, high=None, supported=False,
                      reason=f"no prediction: the {check.name} model could not be fitted")
    if counts["flagged"] < MIN_FLAGGED or counts["flagged_predicted"] < MIN_PREDICTED:
        return Signal(**common, lift=None, low=None, high=None, supported=False,
                      reason=f"too few to judge: {counts['flagged']} customers with open complaints or low "
                      f"ratings, {counts['flagged_predicted']:.1f} purchase days predicted for them; a verdict needs "
                      f"at least {MIN_FLAGGED} such customers and {MIN_PREDICTED:g} predicted days")
    measured = lift(a, p, flagged)
    if measured is None:
        return Signal(**common, lift=None, low=None, high=None, supported=False,
                      reason="nothing to compare with: the other customers made or were predicted no purchase")
    value, low, high = measured
    supported = bool(high < 1.0)  # a plain bool: numpy's is not JSON
    verdict = ("supported: customers with open complaints or low ratings bought less than predicted" if supported
               else "not supported: the interval includes no effect" if low <= 1.0
               else "not supported: customers with open complaints or low ratings bought more than predicted")
    return Signal(**common, lift=value, low=low, high=high, supported=supported,
                  reason=f"{verdict} (lift {value:.2f}, 95% interval {low:.2f} to {high:.2f})")


def complaint_signal(conn: Connection, as_of: date, model: str = "pareto",
                     holdout_days: int | None = None) -> Signal | None:
    """The complaint signal for `model` on the shop's own backtest as of `as_of` (inside the caller's
    snapshot), or None when there is too little data for a backtest or the model is not a purchase model
    ("auto" is not: pass the model it chose; "pareto_limit" is Pareto/NBD's, fitted as pareto).
    It fits the model once on the calibration: seconds at 100,000 customers, so store its as_json()."""
    module = backtest.purchase_models().get("pareto" if model == "pareto_limit" else model)
    if module is None:
        return None
    try:
        data = backtest.split(conn, as_of, holdout_days)
        check = backtest.run(data, {model: module})[0]
    except backtest.TooLittleData:
        return None
    return from_check(data, check)
