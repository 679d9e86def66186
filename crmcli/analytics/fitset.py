"""Which fits a command scores with: stored ones the reuse policy allows (stored.py), else fresh ones.

A FitSet holds the purchase model's fit, the Gamma-Gamma spend fit and the base's population figures
(where the RFM quintiles begin, a one-time buyer's usual gap, whether there was enough history to fit
at all). A report loads the whole base and fits what it cannot reuse; `customer show` loads one customer
and needs every part stored (for_customer returns None otherwise).

Asked for "auto" (choose.py), it fits every candidate on the same base, and the FitSet's purchase fit is
the winner's (its params a choose.ChosenParams, so the "auto" registry entry scores with it), with the
choice and the other candidates beside it; all are stored, the choice as model "auto". Stored candidates
are reused only all together and from one as-of day, since the choice compares their likelihoods of the
same data.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np

from crmcli.analytics import bgnbd, choose, gamma_gamma, heuristic, history, mbgnbd, pareto, rfm, stored
from crmcli.analytics.choose import AUTO, CANDIDATES
from crmcli.analytics.data import CustomerBase
from crmcli.analytics.fitting import FitResult
from crmcli.analytics.stored import POPULATION, StoredFit
from crmcli.db import Connection

# "auto" scores with whichever candidate was chosen (choose.py); it is not fitted itself (no fit()).
MODELS = {"bgnbd": bgnbd, "pareto": pareto, "mbgnbd": mbgnbd, AUTO: choose}
FITTED = ("bgnbd", "pareto", "mbgnbd")  # the purchase models that are fitted
SPEND = "gamma_gamma"


@dataclass(frozen=True)
class FitSet:
    as_of: date  # the day the command asked for
    population: StoredFit
    purchase: StoredFit | None  # None: too little history to fit a purchase model
    spend: StoredFit | None  # None: too few repeat buyers to fit Gamma-Gamma
    choice: StoredFit | None = None  # asked for "auto": the choice (model "auto"), else None
    candidates: tuple[StoredFit, ...] = ()  # asked for "auto": every candidate's fit

    def all(self) -> list[StoredFit]:
        fits = {fit.model: fit for fit in (*self.candidates, self.purchase, self.spend, self.population, self.choice)
                if fit is not None}
        return list(fits.values())

    def fresh(self) -> list[StoredFit]:
        """The fits made by this command, to store once its snapshot is over."""
        return [fit for fit in self.all() if not fit.reused]

    def note(self) -> str | None:
        """Which purchase-model fit the scores use, for stderr; for auto, first what it chose and why."""
        choice = self.choice
        if choice is not None:
            where = (f"as of {choice.as_of} on {choice.seen.purchase_days:,} purchase days of "
                     f"{choice.seen.customers:,} customers")
            if choice.reused or (self.candidates and all(fit.reused for fit in self.candidates)):
                return f"{choice.message}; using the fits {where}, stored {choice.fitted_at}; --refit fits again"
            return (f"{choice.message}; fitted the {', '.join(CANDIDATES)} models {where}; later reports reuse "
                    "them and the choice (see `crm report model`)")
        fit = self.purchase
        if fit is None:
            return None
        if fit.reused:
            return f"using {fit.describe()}, stored {fit.fitted_at}; --refit fits again"
        return (f"fitted the {fit.model} model as of {fit.as_of} on {fit.seen.purchase_days:,} purchase days of "
                f"{fit.seen.customers:,} customers; later reports reuse it (see `crm report model`)")

    def scoring_model(self, asked: str) -> str:
        """The model name to score with: for auto the chosen candidate's (auto itself when none converged,
        so the purchase fit is the unconverged choice)."""
        if asked != AUTO or self.choice is None or not self.choice.params["chosen"]:
            return asked
        return str(self.choice.params["chosen"])

    def row_model(self, scored: str) -> str:
        """The `model` column for scores made with model `scored`: the model actually used, so Pareto/NBD's
        limit fit is "pareto_limit"; a fallback's name (no purchase model) stays as it is."""
        if scored in FITTED and self.purchase is not None:
            return choose.shown_name(scored, self.purchase.params)
        return scored


def spend_can_fit(base: CustomerBase) -> bool:
    repeat = (base.x > 0) & (base.m > 0)
    return bool(heuristic.can_fit(np.where(repeat, base.x, 0)))


def for_base(conn: Connection, base: CustomerBase, models: tuple[str, ...], *,
             refit: bool = False, spend: bool = True) -> tuple[FitSet, dict[str, StoredFit]]:
    """The fits for a report on the whole `base` (inside its snapshot): the FitSet of models[0], and
    every purchase model asked for by name ("auto": every candidate, and the choice as "auto"). Stored
    fits are reused by the policy unless `refit`. spend=False: no Gamma-Gamma (report summary needs
    P(alive) only)."""
    as_of = base.as_of
    can_fit = bool(len(base)) and bool(heuristic.can_fit(base.x))
    auto = can_fit and AUTO in models
    purchase_models = dict.fromkeys(name for m in models for name in (CANDIDATES if m == AUTO else (m,)))
    wanted = ([*purchase_models] if can_fit else []) + ([SPEND] if spend and spend_can_fit(base) else [])
    records = int(base.purchase_records.sum())
    found = {name: None if refit else stored.find(conn, name, as_of, records) for name in (*wanted, POPULATION)}
    if auto and not _one_base([found[name] for name in CANDIDATES]):
        found.update({name: None for name in CANDIDATES})  # the choice compares fits of one base, or fits again
    missing = [name for name, fit in found.items() if fit is None]
    if missing:
        data = stored.seen(conn, as_of, len(base), int(np.count_nonzero(base.x > 0)), int(base.purchases.sum()),
                           records)
        for name in missing:
            found[name] = stored.from_fit(_fit(name, base), as_of, data)
        # Fresh fits come with fresh population figures of the same base.
        found[POPULATION] = stored.from_fit(_fit(POPULATION, base), as_of, data)
    population = found[POPULATION]
    assert population is not None
    fits = {name: fit for name, fit in found.items() if fit is not None}
    if auto:
        fits[AUTO] = _choice(conn, [fits[name] for name in CANDIDATES], as_of, refit)
    fit_set = FitSet(as_of, population, None, fits.get(SPEND))
    if can_fit:
        fit_set = _with_purchase(fit_set, models[0], fits)
    return fit_set, fits


def _one_base(fits: list[StoredFit | None]) -> bool:
    """Whether stored candidate fits are all there and of one base (the same as-of day and data)."""
    if any(fit is None for fit in fits):
        return False
    marks = {(fit.as_of, fit.seen.customers, fit.seen.purchases, fit.seen.max_interaction_id)
             for fit in fits if fit is not None}
    return len(marks) == 1


def _choice(conn: Connection, candidates: list[StoredFit], as_of: date, refit: bool) -> StoredFit:
    """The stored choice when the candidates are the stored ones it was made from, else made now."""
    first = candidates[0]
    if all(fit.reused for fit in candidates) and not refit:
        kept = stored.find(conn, AUTO, as_of)
        if kept is not None and kept.as_of == first.as_of:
            return kept
    made = choose.choose({name: fit.result() for name, fit in zip(CANDIDATES, candidates, strict=True)})
    return stored.from_fit(made, first.as_of, first.seen)


def _with_purchase(fit_set: FitSet, asked: str, fits: dict[str, StoredFit]) -> FitSet:
    """The FitSet scoring with `asked`: for auto the winner's fit (its params knowing their model), else
    the fit of that name."""
    if asked != AUTO:
        return replace(fit_set, purchase=fits.get(asked))
    choice = fits[AUTO]
    winner = str(choice.params["chosen"])
    purchase = replace(fits[winner], params=choose.ChosenParams(fits[winner].params, winner)) if winner else choice
    return replace(fit_set, purchase=purchase, choice=choice, candidates=tuple(fits[name] for name in CANDIDATES))


def for_customer(conn: Connection, model: str, as_of: date) -> FitSet | None:
    """The stored fits for scoring one customer as of `as_of`, or None if a needed one is not stored.
    For auto: the stored choice, and the winner's fit it was made from (the same as-of day)."""
    population = stored.find(conn, POPULATION, as_of)
    if population is None:
        return None
    purchase = spend = choice = None
    if population.params["can_fit"]:
        if model == AUTO:
            if (choice := stored.find(conn, AUTO, as_of)) is None:
                return None
            purchase = _stored_winner(conn, choice)
        else:
            purchase = stored.find(conn, model, as_of)
        if purchase is None:
            return None
    if population.params["spend_can_fit"] and (spend := stored.find(conn, SPEND, as_of)) is None:
        return None
    return FitSet(as_of, population, purchase, spend, choice)


def _stored_winner(conn: Connection, choice: StoredFit) -> StoredFit | None:
    """The chosen candidate's stored fit of the choice's day (the choice itself when none converged)."""
    winner = str(choice.params["chosen"])
    if not winner:
        return choice
    fit = stored.find(conn, winner, choice.as_of)
    if fit is None or fit.as_of != choice.as_of:
        return None
    return replace(fit, params=choose.ChosenParams(fit.params, winner))


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
        "average_purchase": history.average_purchase(base.revenue_cents, base.purchases),  # no Gamma-Gamma fit
        # Recency by the last purchase's day: the same order as days since it, whatever the as-of day.
        "rfm": {"recency": rfm.boundaries(base.last_ordinal, ids), "frequency": rfm.boundaries(base.purchases, ids),
                "monetary": rfm.boundaries(base.revenue_cents / 100.0, ids)},
    }
    return FitResult(model=POPULATION, params=params, log_likelihood=float("nan"), customers=len(base),
                     repeat_customers=int(np.count_nonzero(base.x > 0)), converged=True,
                     message="the base's RFM boundaries and usual gap")
