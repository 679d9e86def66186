"""Which fits a command scores with: stored ones the reuse policy allows (stored.py), else fresh ones.

A FitSet holds the purchase model's fit, the Gamma-Gamma spend fit and the base's population figures
(where the RFM quintiles begin, a one-time buyer's usual gap, whether there was enough history to fit
at all). A report loads the whole base and fits what it cannot reuse; `customer show` loads one customer
and needs every part stored (for_customer returns None otherwise).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from crmcli.analytics import bgnbd, gamma_gamma, heuristic, pareto, rfm, stored
from crmcli.analytics.data import CustomerBase
from crmcli.analytics.fitting import FitResult
from crmcli.analytics.stored import POPULATION, StoredFit

MODELS = {"bgnbd": bgnbd, "pareto": pareto}
SPEND = "gamma_gamma"


@dataclass(frozen=True)
class FitSet:
    as_of: date  # the day the command asked for
    population: StoredFit
    purchase: StoredFit | None  # None: too little history to fit a purchase model
    spend: StoredFit | None  # None: too few repeat buyers to fit Gamma-Gamma

    def all(self) -> list[StoredFit]:
        return [fit for fit in (self.purchase, self.spend, self.population) if fit is not None]

    def fresh(self) -> list[StoredFit]:
        """The fits made by this command, to store once its snapshot is over."""
        return [fit for fit in self.all() if not fit.reused]

    def note(self) -> str | None:
        """Which purchase-model fit the scores use, for stderr."""
        fit = self.purchase
        if fit is None:
            return None
        if fit.reused:
            return f"using {fit.describe()}, stored {fit.fitted_at}; --refit fits again"
        return (f"fitted the {fit.model} model as of {fit.as_of} on {fit.seen.purchase_days:,} purchase days of "
                f"{fit.seen.customers:,} customers; later reports reuse it (see `crm report model`)")


def spend_can_fit(base: CustomerBase) -> bool:
    repeat = (base.x > 0) & (base.m > 0)
    return bool(heuristic.can_fit(np.where(repeat, base.x, 0)))


def for_base(conn: sqlite3.Connection, base: CustomerBase, models: tuple[str, ...], *,
             refit: bool = False, spend: bool = True) -> tuple[FitSet, dict[str, StoredFit]]:
    """The fits for a report on the whole `base` (inside its snapshot): the FitSet of models[0], and
    every purchase model asked for by name. Stored fits are reused by the policy unless `refit`.
    spend=False: no Gamma-Gamma (report summary needs P(alive) only)."""
    as_of = base.as_of
    can_fit = bool(len(base)) and bool(heuristic.can_fit(base.x))
    wanted = ([*models] if can_fit else []) + ([SPEND] if spend and spend_can_fit(base) else [])
    found = {name: None if refit else stored.find(conn, name, as_of) for name in (*wanted, POPULATION)}
    missing = [name for name, fit in found.items() if fit is None]
    if missing:
        data = stored.seen(conn, as_of, len(base), int(np.count_nonzero(base.x > 0)), int(base.purchases.sum()),
                           int(base.purchase_records.sum()))
        for name in missing:
            found[name] = stored.from_fit(_fit(name, base), as_of, data)
        # Fresh fits come with fresh population figures of the same base.
        found[POPULATION] = stored.from_fit(_fit(POPULATION, base), as_of, data)
    population = found[POPULATION]
    assert population is not None
    fits = {name: fit for name, fit in found.items() if fit is not None}
    purchase = fits.get(models[0]) if can_fit else None
    return FitSet(as_of, population, purchase, fits.get(SPEND)), fits


def for_customer(conn: sqlite3.Connection, model: str, as_of: date) -> FitSet | None:
    """The stored fits for scoring one customer as of `as_of`, or None if a needed one is not stored."""
    population = stored.find(conn, POPULATION, as_of)
    if population is None:
        return None
    purchase = spend = None
    if population.params["can_fit"] and (purchase := stored.find(conn, model, as_of)) is None:
        return None
    if population.params["spend_can_fit"] and (spend := stored.find(conn, SPEND, as_of)) is None:
        return None
    return FitSet(as_of, population, purchase, spend)


def _fit(name: str, base: CustomerBase) -> FitResult:
    if name == SPEND:
        return gamma_gamma.fit(base.x, base.m)
    if name == POPULATION:
        return population_figures(base)
    return MODELS[name].fit(base.x, base.t_x, base.T)


def population_figures(base: CustomerBase) -> FitResult:
    """The base's own figures that one customer is scored against: not a model, stored beside the fits."""
    ids = base.customer_id
    params: dict[str, Any] = {
        "can_fit": bool(len(base)) and bool(heuristic.can_fit(base.x)),
        "spend_can_fit": spend_can_fit(base),
        "median_gap_days": heuristic.median_gap(base.x, base.t_x),
        # Recency by the last purchase's day: the same order as days since it, whatever the as-of day.
        "rfm": {"recency": rfm.boundaries(base.last_ordinal, ids), "frequency": rfm.boundaries(base.purchases, ids),
                "monetary": rfm.boundaries(base.revenue_cents / 100.0, ids)},
    }
    return FitResult(model=POPULATION, params=params, log_likelihood=float("nan"), customers=len(base),
                     repeat_customers=int(np.count_nonzero(base.x > 0)), converged=True,
                     message="the base's RFM boundaries and usual gap")
