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
costs no fit; it fits the others and does not store them (it runs inside the summary's
snapshot).
"""

from __future__ import annotations

import sqlite3
from datetime import date

import numpy as np

from crmcli.analytics import fitset, heuristic, history
from crmcli.analytics.data import CustomerBase, load
from crmcli.analytics.report import DEFAULT_MODEL, MODELS

LOST_BELOW = 0.5


def p_alive_as_of(conn: sqlite3.Connection, day: date, model: str = DEFAULT_MODEL) -> tuple[np.ndarray, np.ndarray]:
    """(customer ids, P(alive)) of every customer who had bought by `day`, as report.score computes them
    (NaN for all when there is too little history for a model)."""
    base, p_alive = _scored(conn, day, model)
    return base.customer_id, np.full(len(base), np.nan) if p_alive is None else p_alive


def lost_customers(conn: sqlite3.Connection, day: date, model: str = DEFAULT_MODEL) -> set[int]:
    """Ids of the customers the churn model calls lost as of `day` (P(alive) < 0.5), or with too little
    history for a model, those silent for longer than their hiatus (history.lapsed), as report churn says."""
    base, p_alive = _scored(conn, day, model)
    if p_alive is None:
        lost = history.lapsed(base.x, base.t_x, base.T, heuristic.median_gap(base.x, base.t_x))
    else:
        lost = p_alive < LOST_BELOW
    return {int(i) for i in base.customer_id[lost]}


def _scored(conn: sqlite3.Connection, day: date, model: str) -> tuple[CustomerBase, np.ndarray | None]:
    base = load(conn, day)
    if not len(base):
        return base, np.zeros(0)
    fit = fitset.for_base(conn, base, (model,), spend=False)[0].purchase
    if fit is not None and fit.converged:
        return base, np.clip(MODELS[model].p_alive(fit.params, base.x, base.t_x, base.T), 0.0, 1.0)
    return base, None
