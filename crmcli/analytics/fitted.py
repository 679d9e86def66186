"""`crm report model`: the fitted models (every purchase model `--model auto` chooses from, and the spend
model) on one base, stored or fresh by the reuse policy (stored.py), with the data each was fitted on and
when, each candidate's BIC, and which one auto chose and why (choose.py)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from crmcli import values
from crmcli.analytics import choose, heuristic, stored
from crmcli.analytics.choose import AUTO, CANDIDATES
from crmcli.analytics.data import load
from crmcli.analytics.fitset import SPEND, for_base
from crmcli.analytics.report import BACKTEST, expected_spend, repeat_buyers
from crmcli.analytics.stored import StoredFit
from crmcli.db import Connection

MODEL_COLUMNS = ("model", "time_unit", "params", "log_likelihood", "customers", "repeat_customers", "converged",
                 "as_of", "purchase_days", "iterations", "fitted_at", "reused", "bic", "chosen", "why",
                 "holdout_error", "holdout_correlation", "backtest_cutoff")
# For a narrow terminal, beside the command's own priorities: the choice stays longest, the sentence goes first.
MODEL_PRIORITY = {"bic": 2, "chosen": 1, "why": 7, "holdout_error": 2, "holdout_correlation": 4, "backtest_cutoff": 6}
MODEL_SENTENCES = ("why",)
PURCHASE_MODELS = CANDIDATES  # pareto, bgnbd, mbgnbd: the candidates of --model auto


def fitted_models(conn: Connection, *, as_of: date | None = None,
                  refit: bool = False) -> tuple[list[dict[str, Any]], list[str], list[StoredFit]]:
    """Rows, notes, and the fits made now (to store after the snapshot), for the base as of `as_of`."""
    base = load(conn, as_of or values.now().date())
    notes: list[str] = []
    fit_set, fits = for_base(conn, base, (AUTO,), refit=refit)
    if not (len(base) and heuristic.can_fit(base.x)):
        notes.append("too little history to fit the purchase models "
                     f"({repeat_buyers(int((base.x > 0).sum()), len(base))})")
    elif fit_set.choice is not None:
        notes.append(fit_set.choice.message)
    expected_spend(base, fit_set.spend, notes)  # for its notes only
    shown = {name: fits[name] for name in (*PURCHASE_MODELS, SPEND) if name in fits}
    if any(fit.reused for fit in shown.values()):
        notes.append("stored fits were reused (see the reused column); --refit fits again")
    choice = fits.get(AUTO)
    rows = [_row(name, fit, choice) for name, fit in shown.items()]
    _add_holdout(conn, base.as_of, rows, notes)
    return rows, notes, [fit for fit in fits.values() if not fit.reused]


def _add_holdout(conn: Connection, as_of: date, rows: list[dict[str, Any]], notes: list[str]) -> None:
    """Each purchase model's holdout error and correlation from the stored backtest (`crm report model
    --backtest` measures them: fitting before a cut-off and predicting the rest costs as much as the fits
    again, so it is not done every time), by the stored fits' reuse rule."""
    missing = False
    for row in rows:
        row.update(holdout_error=None, holdout_correlation=None, backtest_cutoff=None)
        if row["model"] == SPEND:
            continue
        measured = stored.find(conn, f"{BACKTEST}_{row['model']}", as_of)
        if measured is None:
            missing = True
            continue
        figures = measured.params
        row.update(holdout_error=_finite(figures.get("error")), holdout_correlation=_finite(figures.get("correlation")),
                   backtest_cutoff=figures.get("cutoff"))
    if missing:
        notes.append("holdout error: `crm report model --backtest` measures each model on a holdout period "
                     "and later `report model` runs show it")


def _finite(value: Any) -> float | None:
    return round(float(value), 4) if isinstance(value, int | float) and math.isfinite(value) else None


def _row(name: str, fit: StoredFit, choice: StoredFit | None) -> dict[str, Any]:
    candidate = name in PURCHASE_MODELS and choice is not None
    bic = choice.params["bic"].get(name) if candidate and choice is not None else None
    return {
        "model": choose.shown_name(name, fit.params),
        "time_unit": "day",
        "params": {k: float(v) for k, v in fit.params.items()},
        "log_likelihood": float("nan") if fit.log_likelihood is None else float(fit.log_likelihood),
        "customers": int(fit.seen.customers),
        "repeat_customers": int(fit.seen.repeat_customers),
        "converged": bool(fit.converged),
        "as_of": fit.as_of.isoformat(),
        "purchase_days": fit.seen.purchase_days,
        "iterations": fit.iterations,
        "fitted_at": fit.fitted_at,
        "reused": fit.reused,
        # A purchase model's BIC (choose.py), whether auto chose it and why; empty for Gamma-Gamma.
        "bic": None if bic is None else round(float(bic), 4),
        "chosen": (("yes" if choice.params["chosen"] == name else "no")
                   if candidate and choice is not None else None),
        "why": (choose.candidate_why(name, choice.params, fit.result())
                if candidate and choice is not None else None),
    }
