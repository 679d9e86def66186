"""The fallback when no model can be fitted: each customer's own buying rhythm.

What it is: a rule of thumb built from two numbers per customer, her usual
gap between purchase days (t_x / x) and how long she has been silent
(T - t_x). It assumes that a customer who is still a customer comes back
after a memoryless wait with that usual gap as its mean, so the chance of a
silence at least this long is exp(-silence / gap):

    p_alive = exp(-(T - t_x) / gap)
    expected_purchases(t) = p_alive * t / gap

What it is not: a fitted model. Nothing is estimated across customers
except, for those with a single purchase (x == 0, no gap of their own), the
median gap of the repeat buyers passed in the same call (DEFAULT_GAP_DAYS
when there are none). There is no uncertainty, and a customer with two
purchases a day apart gets the same gap as one with fifty. Use it when the
data are too thin to fit BG/NBD or Pareto/NBD, and say so.
"""

from __future__ import annotations

import numpy as np

from crmcli.analytics.fitting import as_array, check_history, check_horizon

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


def p_alive(x, t_x, T, one_time_gap: float | None = None) -> np.ndarray:
    """exp(-(T - t_x) / usual gap): the chance of a silence this long if she is still a customer."""
    x, t_x, T = check_history(x, t_x, T)
    return np.exp(-(T - t_x) / usual_gap(x, t_x, one_time_gap))


def expected_purchases(t, x, t_x, T, one_time_gap: float | None = None) -> np.ndarray:
    """p_alive * t / usual gap: purchases in the next t days at her usual rhythm, if still a customer."""
    x, t_x, T = check_history(x, t_x, T)
    t = check_horizon(t)
    gap = usual_gap(x, t_x, one_time_gap)
    return np.exp(-(T - t_x) / gap) * t / gap
