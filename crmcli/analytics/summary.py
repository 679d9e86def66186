"""Customers lost, by the churn model, for `crm report summary`.

A customer is *lost* as of a day D when the churn model, fitted on the data up to D,
gives P(alive) below 0.5: exactly the customers with `p_alive` < 0.5 in
`crm report churn --as-of D --limit 0` (same model; when the history is too thin or the fit does not
converge, those it counts lapsed: silent for longer than their hiatus, history.py).
crmcli.reports.metrics counts a customer
as lost *in* a period when they are lost at its last day and were not at the last day
of the period before.

This repeats report.score()'s choice of model without the spend model and CLV, which
the summary does not need; a test holds the two to the same answer. Like the report it
uses a stored fit where the reuse policy allows (analytics/stored.py), so a period end the
churn report was run for, or that a nightly `crm report model --refit --as-of D` fitted,
costs no fit; the fits it makes are returned for the command to store after its snapshot.

One model for every period end (lost_by_day): with --model auto the choice is made once, at
the latest day, and the earlier ends are fitted with that model alone. A trend measured with
one instrument: were the choice made again at each end, a switch from BG/NBD to Pareto/NBD
between two months would show as customers lost or won that nobody lost or won. (It also
fits one model, not three, at every end but the last.)
"""

from __future__ import annotations

from datetime import date

import numpy as np

from crmcli.analytics import fitset, heuristic, history
from crmcli.analytics.data import CustomerBase, load, load_many
from crmcli.analytics.report import DEFAULT_MODEL, MODELS
from crmcli.analytics.stored import StoredFit
from crmcli.db import Connection

LOST_BELOW = 0.5


def p_alive_as_of(conn: Connection, day: date, model: str = DEFAULT_MODEL) -> tuple[np.ndarray, np.ndarray]:
    """(customer ids, P(alive)) of every customer who had bought by `day`, as report.score computes them
    (NaN for all when there is too little history for a model)."""
    base = load(conn, day)
    p_alive, _ = _scored(conn, base, model)
    return base.customer_id, np.full(len(base), np.nan) if p_alive is None else p_alive


def lost_customers(conn: Connection, day: date, model: str = DEFAULT_MODEL) -> set[int]:
    """Ids of the customers the churn model calls lost as of `day` (P(alive) < 0.5), or with too little
    history for a model, those silent for longer than their hiatus (history.lapsed), as report churn says."""
    return set(_lost(conn, load(conn, day), model, None)[0].tolist())


def lost_by_day(conn: Connection, days: list[date], model: str = DEFAULT_MODEL,
                made: list[StoredFit] | None = None) -> dict[date, np.ndarray]:
    """lost_customers at each day (as sorted id arrays), with one model for all of them: `model`, or for
    auto the model it chooses at the latest day (the module's docstring says why). The fits made, not
    reused, are appended to `made` (to be stored after the command's snapshot)."""
    lost: dict[date, np.ndarray] = {}
    latest_first = sorted(days, reverse=True)
    for day, base in zip(latest_first, load_many(conn, latest_first), strict=True):
        lost[day], chosen = _lost(conn, base, model, made)
        if model == fitset.AUTO and chosen in MODELS:
            model = chosen
    return lost


def newly_lost(now: np.ndarray, before: np.ndarray) -> int:
    """How many of the ids lost now (lost_by_day's sorted array) were not lost before."""
    return len(np.setdiff1d(now, before, assume_unique=True))


def _lost(conn: Connection, base: CustomerBase, model: str,
          made: list[StoredFit] | None) -> tuple[np.ndarray, str]:
    p_alive, chosen = _scored(conn, base, model, made)
    if p_alive is None:
        lost = history.lapsed(base.x, base.t_x, base.T, heuristic.median_gap(base.x, base.t_x))
    else:
        lost = p_alive < LOST_BELOW
    return base.customer_id[lost], chosen  # sorted, as the base is: a Python set of each day's was 60 MB at 1M


def _scored(conn: Connection, base: CustomerBase, model: str,
            made: list[StoredFit] | None = None) -> tuple[np.ndarray | None, str]:
    """The base's P(alive) (None without a converged fit) and the model scored with."""
    if not len(base):
        return np.zeros(0), model
    fit_set, fits = fitset.for_base(conn, base, (model,), spend=False)
    if made is not None:
        made.extend(fit for fit in fits.values() if not fit.reused)
    chosen = fit_set.scoring_model(model)
    fit = fit_set.purchase
    if fit is not None and fit.converged:
        return np.clip(MODELS[model].p_alive(fit.params, base.x, base.t_x, base.T), 0.0, 1.0), chosen
    return None, chosen
