"""Stored fits: a model's population parameters are fitted once and kept in the database (model_fits,
migration M007), so that a report or `customer show` does not refit the whole base every time.

Only population figures are stored: the purchase model's parameters (r, alpha, s, beta / a, b), the
Gamma-Gamma spend model's (p, q, gamma), and the base's own "population" figures that one customer is
placed against (where the RFM quintiles begin, the usual gap of a one-time buyer, whether there was
enough history to fit), and `--model auto`'s choice (model "auto": the winner's name and every
candidate's BIC, choose.py), kept beside the candidates' fits so that a later command scores with the
same model. Every score is then computed from the customer's own current history: their purchases up
to the asked day, their recency and T counted to that day.

THE REUSE POLICY. A command asked for the figures as of day D uses a stored fit of the same model when
- its as-of day is D or up to REUSE_DAYS (7) days before D, never after D (a fit that saw data after D
  would leak the future into a report of D), the latest such day first;
- fewer than REUSE_CHANGE (2%) as many purchases as it was fitted on have changed since, counted as the
  purchases dated after its as-of day up to D plus those recorded since the fit with earlier dates
  (a late import of old history); both counts are index ranges, so the check costs milliseconds;
- it was fitted by the same crm version (an upgrade may fit differently, so it fits again once).
Otherwise the command fits again and stores the new fit (one per model and as-of day: a new fit of
the same day replaces the old). `--refit` fits again whatever is stored. Edits or deletions of
purchases already there are not counted: after a large clean-up, `crm report model --refit`.
`crm report model --refit` in a nightly cron keeps every later command on a fresh fit.

Storing never fails or blocks a read command: save() runs after the command's read snapshot, in
its own short transaction with a busy timeout of STORE_BUSY_MS, and a busy, locked or read-only
database only makes it return a note (the command then simply fits again next time).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from crmcli import db, values
from crmcli.analytics.fitting import FitResult
from crmcli.db import Connection
from crmcli.errors import DatabaseBusy, DatabaseUnusable

REUSE_DAYS = 7
REUSE_CHANGE = 0.02
STORE_BUSY_MS = 50
POPULATION = "population"


@dataclass(frozen=True)
class Seen:
    """What a fit was fitted on: the base's customers and purchase days, and marks to measure change by."""

    customers: int
    repeat_customers: int
    purchase_days: int
    purchases: int  # purchase records dated up to the as-of day
    last_purchase: str | None  # the latest purchase's moment up to the as-of day
    max_interaction_id: int  # the newest interaction row when it was fitted


@dataclass(frozen=True)
class StoredFit:
    model: str
    as_of: date
    params: dict[str, Any]
    seen: Seen
    log_likelihood: float | None
    converged: bool
    message: str
    iterations: int
    fitted_at: str
    crm_version: str
    reused: bool = False  # read from the database rather than fitted by this command

    def result(self) -> FitResult:
        return FitResult(model=self.model, params=dict(self.params),
                         log_likelihood=float("nan") if self.log_likelihood is None else self.log_likelihood,
                         customers=self.seen.customers, repeat_customers=self.seen.repeat_customers,
                         converged=self.converged, message=self.message, iterations=self.iterations)

    def describe(self) -> str:
        """'the pareto fit of 2026-06-30 on 1,690,211 purchase days of 100,000 customers'"""
        return (f"the {self.model} fit of {self.as_of} on {self.seen.purchase_days:,} purchase days of "
                f"{self.seen.customers:,} customers")


def _end(day: date) -> str:
    return day.isoformat() + "~"  # every stored moment of that day sorts below it


def seen(conn: Connection, as_of: date, customers: int, repeat_customers: int, purchase_days: int,
         purchases: int) -> Seen:
    """The data marks of a fit made now on the base as of `as_of` (inside the fit's snapshot); `purchases`
    is the base's count of purchase records up to `as_of` (data.CustomerBase.purchase_records summed)."""
    last = conn.execute("SELECT max(at) FROM interactions WHERE type = 'purchase' AND at < ?",
                        (_end(as_of),)).fetchone()[0]
    newest = conn.execute("SELECT coalesce(max(id), 0) FROM interactions").fetchone()[0]
    return Seen(customers=int(customers), repeat_customers=int(repeat_customers), purchase_days=int(purchase_days),
                purchases=int(purchases), last_purchase=last, max_interaction_id=int(newest))


def from_fit(fit: FitResult, as_of: date, data: Seen) -> StoredFit:
    """A fit made by this command, ready to store; its customers and repeat customers are the fit's own."""
    log_likelihood = fit.log_likelihood if fit.log_likelihood == fit.log_likelihood else None
    return StoredFit(model=fit.model, as_of=as_of, params=dict(fit.params),
                     seen=replace(data, customers=fit.customers, repeat_customers=fit.repeat_customers),
                     log_likelihood=log_likelihood, converged=bool(fit.converged), message=fit.message,
                     iterations=int(fit.iterations), fitted_at=values.now().isoformat(timespec="seconds"),
                     crm_version=crm_version())


def crm_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("crmcli")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


_COLUMNS = ("model", "as_of", "params", "customers", "repeat_customers", "purchase_days", "purchases",
            "last_purchase", "max_interaction_id", "log_likelihood", "converged", "message", "iterations",
            "fitted_at", "crm_version")


def find(conn: Connection, model: str, as_of: date, purchases_now: int | None = None) -> StoredFit | None:
    """The stored fit of `model` that the reuse policy allows for a command as of `as_of`, or None.
    purchases_now: the base's purchase records as of `as_of`, when the caller has the base (a report on
    all of it): then purchases removed since the fit (an import undone, customers deleted) count against
    it too, as the fit's count plus those added since, less what is there now. A command about one
    customer has no base; the next report on all of them looks."""
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM model_fits WHERE model = ? AND as_of <= ? AND as_of >= ? "
        "AND crm_version = ? ORDER BY as_of DESC LIMIT 3",
        (model, as_of.isoformat(), (as_of - timedelta(days=REUSE_DAYS)).isoformat(), crm_version()),
    ).fetchall()
    for row in rows:
        fit = _from_row(row)
        most = most_changed(fit.seen.purchases)
        added = changed_since(conn, fit, as_of)
        removed = 0 if purchases_now is None else max(0, fit.seen.purchases + added - purchases_now)
        if added + removed <= most:
            return fit
    return None


def most_changed(purchases: int) -> int:
    """The most changed purchases a fit on `purchases` tolerates: fewer than REUSE_CHANGE of them."""
    return math.ceil(REUSE_CHANGE * purchases) - 1


def changed_since(conn: Connection, fit: StoredFit, as_of: date, cap: int | None = None) -> int:
    """Purchases a command as of `as_of` sees that `fit` did not: dated after its as-of day (up to
    `as_of`), or recorded after it with an earlier date. Counted up to `cap` (enough to refuse)."""
    cap = most_changed(fit.seen.purchases) + 1 if cap is None else cap
    fit_end = _end(fit.as_of)
    later = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM interactions WHERE type = 'purchase' AND at >= ? AND at < ? LIMIT ?) "
        "AS later",
        (fit_end, _end(as_of), cap)).fetchone()[0]
    backdated = conn.execute(
        # NOT INDEXED: the rows after the newest the fit saw, by rowid; the planner would otherwise scan
        # every purchase's (type, at) entry to find the few new ones.
        "SELECT count(*) FROM (SELECT 1 FROM interactions NOT INDEXED WHERE id > ? AND type = 'purchase' AND at < ? "
        "LIMIT ?) AS backdated",
        (fit.seen.max_interaction_id, fit_end, cap)).fetchone()[0]
    return int(later) + int(backdated)


def _from_row(row: sqlite3.Row | tuple) -> StoredFit:
    (model, as_of, params, customers, repeat_customers, purchase_days, purchases, last_purchase,
     max_interaction_id, log_likelihood, converged, message, iterations, fitted_at, version) = tuple(row)
    return StoredFit(
        model=model, as_of=date.fromisoformat(as_of),
        params={k: float("nan") if v is None else v for k, v in json.loads(params).items()},
        seen=Seen(customers=customers, repeat_customers=repeat_customers, purchase_days=purchase_days,
                  purchases=purchases, last_purchase=last_purchase, max_interaction_id=max_interaction_id),
        log_likelihood=log_likelihood, converged=bool(converged), message=message, iterations=iterations,
        fitted_at=fitted_at, crm_version=version, reused=True)


def _to_row(fit: StoredFit) -> tuple:
    s = fit.seen
    # JSON keeps a float exactly (repr round-trips); NaN parameters of a failed fit become null.
    params = json.dumps({k: (None if isinstance(v, float) and v != v else v) for k, v in fit.params.items()},
                        allow_nan=False)
    return (fit.model, fit.as_of.isoformat(), params, s.customers, s.repeat_customers, s.purchase_days, s.purchases,
            s.last_purchase, s.max_interaction_id, fit.log_likelihood, int(fit.converged), fit.message,
            fit.iterations, fit.fitted_at, fit.crm_version)


def save(conn: Connection, fits: list[StoredFit]) -> str | None:
    """Store the fits made by a command, in a transaction of their own; call it outside any snapshot.

    Returns None when stored (or nothing to store), else a note why not. Never raises for a busy,
    locked, read-only or full database: a read command must not fail because it could not keep a fit.
    """
    fresh = [fit for fit in fits if not fit.reused]
    if not fresh:
        return None
    if conn.in_transaction:
        raise RuntimeError("stored.save must run outside the command's snapshot")
    try:
        with db.transaction(conn, busy_ms=STORE_BUSY_MS):
            conn.executemany(_UPSERT, [_to_row(fit) for fit in fresh])
    except sqlite3.Error as exc:
        return _not_stored(_why_not_stored(exc))
    except DatabaseBusy:  # a server's lock
        return _not_stored(_BUSY)
    except DatabaseUnusable as exc:  # a server's refusal, in words already
        return _not_stored(exc.message)
    return None


# A fit replaces the one of the same model and as-of day (the UNIQUE key), in SQL both engines run.
_UPSERT = (f"INSERT INTO model_fits ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
           f"ON CONFLICT (model, as_of) DO UPDATE SET "
           f"{', '.join(f'{c} = excluded.{c}' for c in _COLUMNS if c not in ('model', 'as_of'))}")


_BUSY = "another command was writing to the database"


def _not_stored(why: str) -> str:
    return f"the fit was not stored ({why}); the next report fits again"


def _why_not_stored(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc):
        return _BUSY
    if name.startswith("SQLITE_READONLY") or "readonly" in str(exc):
        return "the database is read-only"
    return f"the database refused ({exc})"


def stored_fits(conn: Connection) -> list[StoredFit]:
    """Every stored fit, newest as-of day first (for `crm report model`)."""
    return [_from_row(row) for row in conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM model_fits ORDER BY as_of DESC, model")]
