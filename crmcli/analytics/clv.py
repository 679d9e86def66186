"""Customer lifetime value over a horizon: expected purchases month by month,
times expected spend, discounted.

A month is 30 days; the last month of a horizon that is not a multiple of 30
is the remainder. Month k's purchases are the difference of the model's
cumulative conditional expectation at the ends of months k-1 and k, so the
months add up exactly to the expectation over the whole horizon. Month k is
discounted by (1 + annual_discount)^(-k/12): cash is counted at each month's
end.
"""

from __future__ import annotations

import math

import numpy as np

from crmcli.analytics import bgnbd, choose, mbgnbd, pareto
from crmcli.analytics.fitting import check_history, distinct_rows

DAYS_PER_MONTH = 30
# "auto" scores with the chosen model's parameters (choose.ChosenParams know which model they are).
_MODELS = {"bgnbd": bgnbd, "pareto": pareto, "mbgnbd": mbgnbd, choose.AUTO: choose}


def month_ends(horizon_days: float) -> np.ndarray:
    """Days from now to the end of each month of the horizon: 30, 60, ..., horizon."""
    months = math.ceil(horizon_days / DAYS_PER_MONTH)
    return np.minimum(DAYS_PER_MONTH * np.arange(1, months + 1, dtype=float), float(horizon_days))


def monthly_purchases(model: str, params, x, t_x, T, horizon_days: float) -> np.ndarray:
    """Expected purchases in each month of the horizon: shape (months, customers).

    model is "bgnbd", "pareto", "mbgnbd" or "auto" (params a choose.ChosenParams). With too little
    history for a model there is no CLV at all (analytics/history.py).
    """
    if model not in _MODELS:
        raise ValueError(f"model must be one of {', '.join(_MODELS)}")
    if not (np.isfinite(horizon_days) and horizon_days > 0):
        raise ValueError("horizon_days must be a positive number of days")
    x, t_x, T = check_history(x, t_x, T)
    ends = month_ends(horizon_days)
    module = _MODELS[model]
    alive = module.p_alive(params, x, t_x, T)
    # Expected purchases if alive depend on (x, T) alone: computed once per
    # distinct pair (for BG/NBD each one is a series, for every month).
    (ux, uT), where = distinct_rows((x, T))
    cumulative = module.expected_purchases_if_alive(params, ends[:, None], ux, uT)
    per_month = np.diff(cumulative, axis=0, prepend=0.0)
    return per_month[:, where].reshape((len(ends),) + x.shape) * alive


def clv(model: str, params, x, t_x, T, spend, horizon_days: float, annual_discount: float = 0.0) -> np.ndarray:
    """Discounted expected value of each customer's purchases over the horizon.

    sum over months k of E[purchases in month k] * spend * (1 + annual_discount)^(-k/12)

    spend: expected spend per transaction (e.g. gamma_gamma.expected_spend), one per customer or a scalar.
    model: "bgnbd", "pareto", "mbgnbd" or "auto".
    """
    if not (np.isfinite(annual_discount) and annual_discount > -1.0):
        raise ValueError("annual_discount must be a rate > -1, such as 0.1 for 10%")
    x, t_x, T = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (x, t_x, T)))
    if x.ndim != 1 or not len(x):
        return _discounted(model, params, x, t_x, T, horizon_days, annual_discount) * np.asarray(spend, dtype=float)
    # Once per distinct history, CHUNK histories per step: the month-by-customer arrays of the whole base,
    # and the series' temporaries over them, were 60 MB of a report's peak at 100,000 customers. Customers
    # with the same history share one computation, so they get the same value to the last bit (their
    # ranks tie, and the tie goes by customer id), wherever they fall.
    (ux, ut_x, uT), where = distinct_rows((x, t_x, T))
    discounted = np.concatenate([
        _discounted(model, params, ux[at:at + CHUNK], ut_x[at:at + CHUNK], uT[at:at + CHUNK], horizon_days,
                    annual_discount) for at in range(0, len(ux), CHUNK)])
    return discounted[where] * np.asarray(spend, dtype=float)


CHUNK = 10_000


def _discounted(model: str, params, x, t_x, T, horizon_days: float, annual_discount: float) -> np.ndarray:
    per_month = monthly_purchases(model, params, x, t_x, T, horizon_days)
    k = np.arange(1, per_month.shape[0] + 1, dtype=float)
    factor = (1.0 + annual_discount) ** (-k / 12.0)
    return np.sum(factor.reshape((-1,) + (1,) * (per_month.ndim - 1)) * per_month, axis=0)
