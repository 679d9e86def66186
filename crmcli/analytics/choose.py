"""`--model auto`: which purchase model to score a shop with, chosen on the shop's own data.

The candidates are Pareto/NBD (which may end as its homogeneous drop-out limit, pareto_limit.py),
BG/NBD and MBG/NBD. Each is fitted by maximum likelihood to the same base, and the one with the
lowest Bayesian information criterion wins:

    BIC = k ln n - 2 LL      (Schwarz 1978)

n = the customers fitted on, k = the model's parameters (4; 3 for the Pareto limit), LL = the maximised
log-likelihood.

Why the criterion is valid here. The three likelihoods are of the same observations: for every customer
the purchase times after the first purchase, summarised by (x, t_x, T), each model's likelihood being
the density of those times (a Poisson stream while active, lambda^x e^(-lambda t)) mixed over the same
kind of gamma purchase rate and the model's own drop-out story, and taken against the same reference
measure. So their log-likelihoods are on one scale and differences between them mean something, which
is not true of likelihoods of different data or of data summarised differently. The models are not
nested (BG/NBD is no special case of Pareto/NBD), so a likelihood-ratio test does not apply; BIC
approximates -2 ln of each model's marginal likelihood, and minimising it is consistent: as the
customers grow it picks the model that generated the data when that is one of the candidates (and
otherwise the one closest to the truth in Kullback-Leibler terms). With 4 parameters each it is the
plain likelihood comparison, except that Pareto/NBD's 3-parameter limit is not charged for the
parameter it lacks. It is reproducible: the fits are deterministic (fitting.py's budget is of work,
not time), and BICs within TIE (0.01) of each other count as tied, broken in TIE_ORDER.

A candidate whose fit did not converge is no candidate. With none left, the reports fall back as for
any unconverged fit.

The choice is stored beside the fits (model_fits, as model "auto": its params name the winner and hold
every candidate's BIC), so `customer show` or a later report reuses it without refitting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from crmcli.analytics import bgnbd, mbgnbd, pareto
from crmcli.analytics.fitting import FitResult

AUTO = "auto"
CANDIDATES = ("pareto", "bgnbd", "mbgnbd")  # the order they are shown in
# Ties (BICs within TIE) go to the model that lets customers leave at any time, then to the one that lets
# one-time buyers leave: BG/NBD calls every one-time buyer certainly alive.
TIE_ORDER = ("pareto", "mbgnbd", "bgnbd")
TIE = 0.01
_MODULES = {"pareto": pareto, "bgnbd": bgnbd, "mbgnbd": mbgnbd}


def parameters(params: Mapping[str, Any]) -> int:
    """k, the free parameters of a fit: 3 for the Pareto limit (r, alpha, mu), 4 for the others."""
    return len(params)


def bic(log_likelihood: float, k: int, customers: int) -> float:
    """k ln n - 2 LL."""
    return k * math.log(max(customers, 1)) - 2.0 * log_likelihood


def shown_name(model: str, params: Mapping[str, Any]) -> str:
    """The name a row carries for a candidate's fit: pareto's limit fit is "pareto_limit"."""
    return pareto.model_name(dict(params)) if model == "pareto" else model


def is_candidate(fit: FitResult) -> bool:
    return bool(fit.converged) and fit.log_likelihood == fit.log_likelihood


def choose(fits: Mapping[str, FitResult]) -> FitResult:
    """The choice among the candidates' fits (keyed by CANDIDATES' names), as a record to store: params
    {"chosen": name or "", "criterion": "bic", "bic": {name: BIC or None}, "parameters": {name: k}},
    log-likelihood the winner's, converged whether there was a winner, message the sentence saying why."""
    scores: dict[str, float | None] = {}
    ks: dict[str, int] = {}
    for name in CANDIDATES:
        fit = fits[name]
        ks[name] = parameters(fit.params)
        scores[name] = bic(fit.log_likelihood, ks[name], fit.customers) if is_candidate(fit) else None
    ranked = sorted((name for name in CANDIDATES if scores[name] is not None),
                    key=lambda name: (round(float(scores[name] or 0.0) / TIE), TIE_ORDER.index(name)))
    winner = ranked[0] if ranked else None
    any_fit = fits[CANDIDATES[0]]
    return FitResult(
        model=AUTO,
        params={"chosen": winner or "", "criterion": "bic", "bic": scores, "parameters": ks},
        log_likelihood=fits[winner].log_likelihood if winner else float("nan"),
        customers=any_fit.customers, repeat_customers=any_fit.repeat_customers, converged=winner is not None,
        message=why(fits, scores, winner), iterations=0)


def why(fits: Mapping[str, FitResult], scores: Mapping[str, float | None], winner: str | None) -> str:
    """'chose bgnbd: lowest BIC (2,424,001.2) of pareto 2,430,000.0, bgnbd 2,424,001.2, mbgnbd 2,425,000.3
    (BIC = k ln n - 2 log-likelihood, n = 100,000 customers)'"""
    names = {name: shown_name(name, fits[name].params) for name in CANDIDATES}
    listed = ", ".join(f"{names[name]} {scores[name]:,.1f}" if scores[name] is not None
                       else f"{names[name]} (did not converge)" for name in CANDIDATES)
    if winner is None:
        reasons = "; ".join(f"{names[name]}: {fits[name].message}" for name in CANDIDATES)
        return f"none of the candidate models converged ({reasons})"
    n = fits[winner].customers
    score = scores[winner]
    assert score is not None
    tied = [name for name in CANDIDATES if name != winner and scores[name] is not None
            and round(float(scores[name] or 0.0) / TIE) == round(score / TIE)]
    tie = f"; tied with {', '.join(names[t] for t in tied)}, taken in the order {', '.join(TIE_ORDER)}" if tied else ""
    return (f"chose {names[winner]}: lowest BIC ({score:,.1f}) of {listed} "
            f"(BIC = k ln n - 2 log-likelihood, n = {n:,} customers{tie})")


def candidate_why(name: str, choice: Mapping[str, Any], fit: FitResult) -> str:
    """A candidate's row in `crm report model`: why it was or was not chosen."""
    scores = choice["bic"]
    chosen = choice["chosen"]
    if scores.get(name) is None:
        return f"not a candidate: did not converge ({fit.message})"
    if name == chosen:
        others = [(other, scores[other]) for other in CANDIDATES if other != name and scores.get(other) is not None]
        if not others:
            return "chosen: the only candidate that converged"
        runner_up = min(others, key=lambda pair: pair[1])
        return (f"chosen: lowest BIC, {runner_up[1] - scores[name]:,.1f} below the next ({runner_up[0]})")
    return f"not chosen: BIC {scores[name] - scores[chosen]:,.1f} above {chosen}'s" if chosen else ""


class ChosenParams(dict):
    """The winning fit's parameters, knowing which model they are (BG/NBD's and MBG/NBD's have the same
    names): what the "auto" entry of the model registries (fitset.MODELS, clv) scores with. It is a plain
    dict to everything else (stored as JSON, iterated, copied)."""

    def __init__(self, params: Mapping[str, Any], model: str) -> None:
        super().__init__(params)
        self.model = model


def _module(params: Mapping[str, Any]):
    model = getattr(params, "model", None)
    if model not in _MODULES:
        raise ValueError("the auto model scores with the chosen fit's parameters (choose.ChosenParams)")
    return _MODULES[model]


# The "auto" entry of the registries: each function scores with the model the parameters belong to.
def log_likelihood(params: Mapping[str, Any], x, t_x, T) -> np.ndarray:
    return _module(params).log_likelihood(params, x, t_x, T)


def p_alive(params: Mapping[str, Any], x, t_x, T) -> np.ndarray:
    return _module(params).p_alive(params, x, t_x, T)


def expected_purchases(params: Mapping[str, Any], t, x, t_x, T) -> np.ndarray:
    return _module(params).expected_purchases(params, t, x, t_x, T)


def expected_purchases_if_alive(params: Mapping[str, Any], t, x, T) -> np.ndarray:
    return _module(params).expected_purchases_if_alive(params, t, x, T)


def expected_purchases_new(params: Mapping[str, Any], t) -> np.ndarray:
    return _module(params).expected_purchases_new(params, t)
