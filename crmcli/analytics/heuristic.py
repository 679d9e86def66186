"""When a model can be fitted, and each customer's usual gap between purchases.

can_fit() is the one copy of the rule that decides whether there is enough history to fit a purchase
model (the thresholds below, and why). usual_gap() and median_gap() give each customer's own rhythm:
t_x / x days between purchase days for a repeat buyer, and for a one-time buyer (no gap of her own)
the median of the repeat buyers' gaps (DEFAULT_GAP_DAYS when there are none). With too little history
the reports show these facts and forecast nothing (analytics/history.py); this module once also held
a rule of thumb that turned the gap into a P(alive) and expected purchases, and it told a new shop
absurd things, so it is gone.
"""

from __future__ import annotations

import numpy as np

from crmcli.analytics.fitting import as_array

# Fit a model only with at least this many buyers ...
MIN_CUSTOMERS = 100
# ... of whom at least this many bought more than once ...
MIN_REPEAT_CUSTOMERS = 20
# ... and who are also at least this share of the customers.
MIN_REPEAT_SHARE = 0.10
# Why these (analytics/history.py has the rest): the models are distributions across customers (how
# purchase rates and drop-out vary), estimated from how customers differ. Below a hundred customers a
# fit is a guess about a population from a handful of people: on 30-customer shops of regulars crm's
# fits told a one-time buyer of today that she would buy 16 to 19 times next year, because almost
# nobody in the data had bought once and stopped. The repeat buyers are what the purchase rates and
# the drop-out are learnt from, so at least 20 of them, and a tenth of the base.
# Usual gap for one-time buyers when nobody has bought twice: a quarter.
DEFAULT_GAP_DAYS = 90.0
# Purchases are counted per day, so no gap is shorter than a day.
MIN_GAP_DAYS = 1.0


def can_fit(x) -> bool:
    """Whether there are enough repeat buyers to try fitting a model."""
    x = as_array("x", x).ravel()
    repeat = int(np.count_nonzero(x > 0))
    return x.size >= MIN_CUSTOMERS and repeat >= MIN_REPEAT_CUSTOMERS and repeat >= MIN_REPEAT_SHARE * x.size


def usual_gap(x, t_x, one_time_gap: float | None = None) -> np.ndarray:
    """Days between purchase days: t_x / x for repeat buyers; for one-time buyers, one_time_gap
    if given (a base's median_gap, stored with a fit), else the median of the repeat buyers' gaps
    (DEFAULT_GAP_DAYS if there are none)."""
    x, t_x = np.broadcast_arrays(as_array("x", x), as_array("t_x", t_x))
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.maximum(t_x / x, MIN_GAP_DAYS)
    population = one_time_gap if one_time_gap is not None else median_gap(x, t_x)
    return np.where(repeat, own, population)


def median_gap(x, t_x) -> float:
    """The median usual gap of the repeat buyers (DEFAULT_GAP_DAYS if there are none)."""
    x, t_x = np.broadcast_arrays(as_array("x", x), as_array("t_x", t_x))
    repeat = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.maximum(t_x / x, MIN_GAP_DAYS)
    return float(np.median(own[repeat])) if repeat.any() else DEFAULT_GAP_DAYS
