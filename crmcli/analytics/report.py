"""The reports: best customers, churn risk, RFM segments and the fitted models.

`score()` does the work once (load, fit, predict); the *_rows functions turn
the result into the rows the commands print. Every number in a row comes from
a published model or from the customer's own history; `why` says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from crmcli import values
from crmcli.analytics import clv, fitset, gamma_gamma, heuristic, history, rfm, rows, stored
from crmcli.analytics.data import CustomerBase, load, load_one
from crmcli.analytics.explain import best_sentences, why_best, why_churn
from crmcli.analytics.fitset import MODELS, FitSet
from crmcli.analytics.stored import StoredFit
from crmcli.db import Connection
from crmcli.errors import InvalidInput

DEFAULT_MODEL = "auto"  # the shop's own data choose among Pareto/NBD, BG/NBD and MBG/NBD (choose.py); see README
DEFAULT_HORIZON_DAYS = 365
MAX_HORIZON_DAYS = 36500

BEST_COLUMNS = (
    "rank", "customer_id", "name", "email", "segment", "recency_score", "frequency_score", "monetary_score",
    "purchases", "revenue", "last_purchase", "days_since_last_purchase", "p_alive", "expected_purchases",
    "expected_spend", "predicted_clv", "model", "why",
)
CHURN_COLUMNS = (
    "rank", "customer_id", "name", "email", "p_alive", "churn_risk", "value_at_risk", "value_if_active",
    "days_since_last_purchase", "typical_gap_days", "purchases", "revenue", "last_purchase", "open_complaints",
    "low_ratings", "segment", "model", "why",
)
# A terminal has room for fewer columns; csv/json/jsonl always carry all of them.
BEST_TABLE = ("rank", "customer_id", "name", "segment", "revenue", "p_alive", "predicted_clv", "why")
CHURN_TABLE = ("rank", "customer_id", "name", "churn_risk", "value_at_risk", "days_since_last_purchase",
               "typical_gap_days", "open_complaints", "why")
SEGMENT_COLUMNS = ("segment", "customers", "customer_share", "revenue", "revenue_share", "advice")

SEGMENT_ADVICE = rfm.ADVICE


@dataclass
class Scores:
    """Everything the reports need, one array entry per buying customer."""

    base: CustomerBase
    model: str  # the model used: "pareto", "pareto_limit", "bgnbd", "mbgnbd", or the fallback when none fitted
    fits: FitSet  # the purchase model's, Gamma-Gamma's and the population's: stored or fresh
    horizon_days: int
    p_alive: np.ndarray
    expected_purchases: np.ndarray  # in the horizon
    expected_spend: np.ndarray  # per transaction
    predicted_clv: np.ndarray
    value_if_active: np.ndarray  # a year of purchases at the customer's own expected rate and spend
    recency_score: np.ndarray
    frequency_score: np.ndarray
    monetary_score: np.ndarray
    segment: list[str]
    notes: list[str] = field(default_factory=list)
    one_time_gap: float = heuristic.DEFAULT_GAP_DAYS  # the usual gap a one-time buyer is given (history.py)

    @property
    def churn_risk(self) -> np.ndarray:
        return 1.0 - self.p_alive

    # The shop's own complaint lift (signals.py), where its backtest supports it: the flagged customers'
    # purchases, if still active, are expected at this multiple of what their history predicts.
    complaint_lift: float | None = None
    complaint_note: str | None = None  # the why sentences' words for it

    @property
    def flagged(self) -> np.ndarray:
        """Customers with an open complaint or a low rating (data.py) as of the report's day."""
        return (self.base.open_complaints > 0) | (self.base.low_ratings > 0)

    @property
    def value_at_risk(self) -> np.ndarray:
        """(1 - P(alive)) x value if active; with a supported complaint lift L, a flagged customer's is
        value x (1 - P(alive) x L): what is not expected back of her year, by the model and her complaint."""
        if self.complaint_lift is None:
            return self.churn_risk * self.value_if_active
        kept = np.where(self.flagged, self.p_alive * self.complaint_lift, self.p_alive)
        return (1.0 - kept) * self.value_if_active


def score(
    conn: Connection,
    *,
    as_of: date | None = None,
    model: str = DEFAULT_MODEL,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    discount: float = 0.0,
    refit: bool = False,
) -> Scores:
    """Every buying customer scored as of `as_of`, with stored fits where the reuse policy allows
    (stored.py) and fresh ones otherwise: the caller stores Scores.fits.fresh() after its snapshot."""
    check_options(model, horizon_days, discount)
    base = load(conn, as_of or values.now().date())
    fits = fitset.for_base(conn, base, (model,), refit=refit)[0]
    return _named(predict(base, fits, fits.scoring_model(model), horizon_days, discount))


def _named(s: Scores) -> Scores:
    """The scores with `model` naming the model actually used (auto's winner; pareto_limit for Pareto/NBD's
    limit fit), which every row's `model` column carries."""
    s.model = s.fits.row_model(s.model)
    return s


def check_options(model: str, horizon_days: int, discount: float) -> None:
    if model not in MODELS:
        raise InvalidInput("model", model, "must be one of " + ", ".join(MODELS))
    # A century is beyond any business plan, and keeps the monthly CLV sum small and finite.
    if not 0 < horizon_days <= MAX_HORIZON_DAYS:
        raise InvalidInput("horizon", horizon_days, f"must be a number of days from 1 to {MAX_HORIZON_DAYS}")
    if not 0 <= discount < 10:  # also refuses nan and inf
        raise InvalidInput("discount", discount, "must be an annual rate such as 0.1 for 10%")


def predict(base: CustomerBase, fits: FitSet, model: str, horizon_days: int, discount: float, *,
            against_population: bool = False) -> Scores:
    """The scores of the customers in `base` from the fits' population parameters and their own history.

    against_population: `base` is not the whole base (one customer), so RFM scores and a one-time
    buyer's usual gap come from the fits' stored population figures instead of from `base`.
    """
    notes = [note] if (note := fits.note()) else []
    x, t_x, T = base.x, base.t_x, base.T
    population = fits.population.params
    # A one-time buyer's usual gap: the base's median (stored with the fits for one customer).
    gap = population["median_gap_days"] if against_population else heuristic.median_gap(x, t_x)
    shop_average = population.get("average_purchase") if against_population else None
    used, purchase = model, fits.purchase
    if purchase is None:
        counts = (fits.population.seen.repeat_customers, fits.population.seen.customers) if against_population \
            else (int((x > 0).sum()), len(x))
        used = history.MODEL
        notes.append(f"too little history to fit a model ({history.shortfall(*counts)}); {_HISTORY}")
    elif not purchase.converged:
        used = history.MODEL
        notes.append(f"the {model} model did not converge ({purchase.message}); {_HISTORY}")
    if used == history.MODEL:
        # No forecast without a model (history.py says why): the figures a model would give stay empty,
        # the spend per future purchase among them (so no note on how it would have been estimated).
        nothing = np.full(len(x), np.nan)
        r_score, f_score, m_score, segments = _rfm_against(base, population["rfm"]) if against_population \
            else _rfm(base)
        return Scores(
            base=base, model=used, fits=fits, horizon_days=horizon_days, p_alive=nothing, expected_purchases=nothing,
            expected_spend=nothing, predicted_clv=nothing, value_if_active=nothing, recency_score=r_score,
            frequency_score=f_score, monetary_score=m_score, segment=segments, notes=notes, one_time_gap=gap)
    else:
        assert purchase is not None
        params = purchase.params
        module = MODELS[model]
        p_alive = module.p_alive(params, x, t_x, T)
        # Every model's expected_purchases is this times the same P(alive), here computed once: Pareto/NBD's
        # costs two series per customer (0.3 s at 100,000 customers).
        expected = module.expected_purchases_if_alive(params, horizon_days, x, T) * p_alive
        # The posterior mean purchase rate of a customer who is still active: (r + x) / (alpha + T)
        # under both models' gamma mixing of the purchase rate.
        rate_if_active = (params["r"] + x) / (params["alpha"] + T)

    spend = expected_spend(base, fits.spend, notes, shop_average)
    predicted = clv.clv(used, params, x, t_x, T, spend, horizon_days, discount)

    r_score, f_score, m_score, segments = _rfm_against(base, population["rfm"]) if against_population \
        else _rfm(base)
    return Scores(
        base=base, model=used, fits=fits, horizon_days=horizon_days, p_alive=np.clip(p_alive, 0.0, 1.0),
        expected_purchases=expected, expected_spend=spend, predicted_clv=predicted,
        value_if_active=rate_if_active * 365.0 * spend,
        recency_score=r_score, frequency_score=f_score, monetary_score=m_score,
        segment=segments, notes=notes, one_time_gap=gap,
    )


def _rfm(base: CustomerBase) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """RFM scores (recency in days, frequency in purchase days, money = revenue) and segment names."""
    r_score, f_score, m_score = rfm.scores(base.days_since_last_purchase, base.purchases,
                                           base.revenue_cents / 100.0, base.customer_id)
    return r_score, f_score, m_score, list(rfm.segment(r_score, f_score, m_score))


def _rfm_against(base: CustomerBase, bounds: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """_rfm for customers placed against a base's stored quintile boundaries (fitset.population_figures)."""
    r_score, f_score, m_score = rfm.scores_against(base.last_ordinal, base.purchases, base.revenue_cents / 100.0,
                                                   base.customer_id, bounds)
    return r_score, f_score, m_score, list(rfm.segment(r_score, f_score, m_score))


_HISTORY = "showing each customer's history (RFM, last purchase, usual gap) and no forecast (model: history)"


def repeat_buyers(repeat: int, customers: int) -> str:
    return (f"{repeat} of {customers} buyers bought more than once; at least "
            f"{heuristic.MIN_REPEAT_CUSTOMERS} and {heuristic.MIN_REPEAT_SHARE:.0%} are needed")


def expected_spend(base: CustomerBase, fit: StoredFit | None, notes: list[str],
                   shop_average: float | None = None) -> np.ndarray:
    """Expected spend per purchase: Gamma-Gamma's, or without it each repeat buyer's own average and, for
    a one-time buyer, the shop's average purchase (history.average_purchase; `shop_average` when `base`
    is not the whole base)."""
    if fit is not None:
        if fit.converged:
            spend = gamma_gamma.expected_spend(fit.params, base.x, base.m)
            if np.isfinite(spend).all():
                return spend
            # q <= 1: the population mean spend is infinite, so one-time buyers get no model
            # estimate; they are valued at the shop's average purchase, and the note says so.
            notes.append("the fitted spend distribution has no finite mean; one-time buyers are valued "
                         "at the shop's average purchase")
            return np.where(np.isfinite(spend), spend, _shop_average(base, shop_average))
        notes.append(f"the Gamma-Gamma spend model did not converge ({fit.message}); {_OWN_SPEND}")
    else:
        notes.append(f"too few repeat buyers to fit the Gamma-Gamma spend model; {_OWN_SPEND}")
    return np.where(base.x > 0, _own_average(base), _shop_average(base, shop_average))


def _shop_average(base: CustomerBase, given: float | None) -> float:
    return history.average_purchase(base.revenue_cents, base.purchases) if given is None else given


_OWN_SPEND = "using each repeat buyer's own average purchase, and the shop's average for one-time buyers"


def _own_average(base: CustomerBase) -> np.ndarray:
    """The customer's own mean amount per purchase day, net of refunds."""
    return np.maximum(base.revenue_cents / 100.0, 0.0) / base.purchases


def _order(keys: list[np.ndarray], customer_id: np.ndarray) -> np.ndarray:
    """Indices sorted by the keys, largest first; ties broken by the smaller customer id."""
    return np.lexsort([customer_id] + [-k for k in reversed(keys)])


# What a model forecasts: empty with too little history (history.py), so a table leaves them out.
FORECAST_COLUMNS = frozenset({"p_alive", "churn_risk", "expected_purchases", "expected_spend", "predicted_clv",
                              "value_if_active", "value_at_risk"})


def table_of(columns: tuple[str, ...], s: Scores) -> tuple[str, ...]:
    """A report's table columns for these scores: without the forecasts when no model was fitted, whose
    room goes to the why sentence (csv and json keep every column, empty)."""
    return tuple(c for c in columns if s.model != history.MODEL or c not in FORECAST_COLUMNS)


def ranked_by(by: str, s: Scores) -> str:
    """What best_rows ranks by, in words for a title."""
    return "revenue, no model" if by == "clv" and s.model == history.MODEL else by


def best_rows(conn: Connection, s: Scores, *, by: str = "clv", segment: str | None = None,
              limit: int | None = 20) -> Iterator[dict[str, Any]]:
    b = s.base
    if by == "clv" and s.model == history.MODEL:
        keys = [b.revenue_cents, b.last_ordinal]  # no CLV without a model: revenue so far, then recency
    elif by == "clv":
        keys = [s.predicted_clv, b.revenue_cents]
    elif by == "rfm":
        keys = [s.recency_score + s.frequency_score + s.monetary_score, s.recency_score, s.frequency_score,
                s.monetary_score, b.revenue_cents]
    elif by == "revenue":
        keys = [b.revenue_cents, s.predicted_clv]
    else:
        raise InvalidInput("by", by, "must be one of clv, rfm, revenue")
    order = _order(keys, b.customer_id).tolist()
    if segment is not None:
        wanted = _segment_name(segment)
        order = [i for i in order if s.segment[i] == wanted]
    explain = history.why_best if s.model == history.MODEL else best_sentences(s.horizon_days)
    return rows.rows(conn, s, order[: limit or None], explain)


def churn_rows(conn: Connection, s: Scores, *, min_risk: float = 0.0,
               limit: int | None = 20) -> Iterator[dict[str, Any]]:
    if not 0.0 <= min_risk <= 1.0:
        raise InvalidInput("min-risk", min_risk, "must be a probability from 0 to 1")
    b = s.base
    if s.model == history.MODEL:
        # No risk without a model: the most overdue against their own rhythm first (history.py). With no
        # probability to compare --min-risk with, any --min-risk above 0 keeps the customers counted lapsed.
        overdue = history.overdue(b.x, b.t_x, b.T, s.one_time_gap)
        order = _order([overdue, b.revenue_cents], b.customer_id).tolist()
        if min_risk > 0:
            order = [i for i in order if overdue[i] > history.HIATUS_GAPS]
        return rows.rows(conn, s, order[: limit or None], lambda row: history.why_churn(row, s.one_time_gap))
    order = _order([s.value_at_risk, s.churn_risk], b.customer_id).tolist()
    risk = s.churn_risk
    order = [i for i in order if risk[i] >= min_risk]
    if s.complaint_lift is None:
        return rows.rows(conn, s, order[: limit or None], why_churn)
    said = s.complaint_note

    def explain(row: dict[str, Any]) -> str:
        flagged = row["open_complaints"] or row["low_ratings"]
        return f"{why_churn(row)}; {said}" if flagged else why_churn(row)

    return rows.rows(conn, s, order[: limit or None], explain)


COMPLAINTS = "complaints"  # model_fits holds each model's complaint signal as COMPLAINTS + "_" + model
BACKTEST = "backtest"  # ... and its backtest's holdout summary as BACKTEST + "_" + model


def backtest_fits(conn: Connection, as_of: date, measured: dict[str, dict[str, Any]], customers: int,
                  repeat_customers: int, purchase_days: int) -> list[StoredFit]:
    """What a backtest as of `as_of` measured, as stored records by name: COMPLAINTS + "_" + model (the
    complaint signal, for use_complaint_signal) and BACKTEST + "_" + model (its holdout summary, for
    `crm report model`). Made inside the backtest's snapshot, saved after it (stored.save)."""
    from crmcli.analytics.fitting import FitResult

    records = conn.execute("SELECT count(*) FROM interactions WHERE type = 'purchase' AND at < ?",
                           (as_of.isoformat() + "~",)).fetchone()[0]
    seen = stored.seen(conn, as_of, customers, repeat_customers, purchase_days, records)
    def plain(value: Any) -> Any:  # numpy's scalars (a numpy bool among them) as the JSON the store writes
        return value.item() if isinstance(value, np.generic) else value

    return [stored.from_fit(FitResult(model=name, params={k: plain(v) for k, v in figures.items()},
                                      log_likelihood=float("nan"), customers=customers,
                                      repeat_customers=repeat_customers, converged=True,
                                      message=str(figures.get("reason", "backtest"))), as_of, seen)
            for name, figures in measured.items()]


def use_complaint_signal(conn: Connection, s: Scores) -> str | None:
    """Apply the shop's stored complaint signal for s.model (measured by `crm report model --backtest`,
    kept by the stored fits' reuse policy) to the churn ranking when it is supported; the note to print."""
    if s.model == history.MODEL or not s.flagged.any():
        return None
    fit = stored.find(conn, f"{COMPLAINTS}_{s.model}", s.base.as_of)
    if fit is None:
        return ("whether complaints and low ratings foretell leaving in this shop is not measured yet: "
                "`crm report model --backtest` measures it, and later churn reports use it where it holds")
    signal = fit.params
    if not signal.get("supported") or signal.get("lift") is None:
        return f"complaints are not used in the ranking: the backtest of {fit.as_of} found {signal.get('reason')}"
    s.complaint_lift = float(signal["lift"])
    s.complaint_note = (f"in this shop customers with complaints or low ratings bought {s.complaint_lift:.2f}x "
                        f"their predicted purchases (backtest of {fit.as_of}), counted in the value at risk")
    return f"complaints and low ratings count in the ranking: {signal.get('reason')}"


def segment_rows(conn: Connection, *, as_of: date | None = None) -> list[dict[str, Any]]:
    """Customers and revenue per RFM segment. RFM needs no model, so none is fitted."""
    base = load(conn, as_of or values.now().date())
    segments = _rfm(base)[3]
    total_customers = len(base)
    total_cents = int(base.revenue_cents.sum())
    members_of = {name: np.array([seg == name for seg in segments], dtype=bool) for name in rfm.SEGMENT_NAMES}
    cents_of = {name: int(base.revenue_cents[members].sum()) if total_customers else 0
                for name, members in members_of.items()}
    # A share of revenue means something only when no segment's refunds exceed its purchases and there
    # is revenue to share; otherwise shares such as 2.11 and -1.11 would be printed. Then it is left empty.
    shares_mean_something = total_cents > 0 and min(cents_of.values()) >= 0
    segment_table = []
    for name, members in members_of.items():
        count = int(members.sum()) if total_customers else 0
        segment_table.append({
            "segment": name,
            "customers": count,
            "customer_share": round(count / total_customers, 4) if total_customers else 0.0,
            "revenue": values.cents_to_amount(cents_of[name]),
            "revenue_share": round(cents_of[name] / total_cents, 4) if shares_mean_something else None,
            "advice": SEGMENT_ADVICE[name],
        })
    return segment_table


def _segment_name(text: str) -> str:
    for name in rfm.SEGMENT_NAMES:
        if values.fold(name) == values.fold(text.strip()):
            return name
    raise InvalidInput("segment", text, "must be one of " + ", ".join(rfm.SEGMENT_NAMES))


def _one_customer_why(s: Scores):
    """`customer show`'s why: the churn report's for a customer more likely gone than not (or lapsed, with
    no model), else the best report's."""
    if s.model == history.MODEL:
        return lambda r: history.why_churn(r, s.one_time_gap) if r["days_since_last_purchase"] > \
            history.hiatus_days(r, s.one_time_gap) else history.why_best(r)
    return lambda r: why_best(r, s.horizon_days) if r["churn_risk"] < 0.5 else why_churn(r)


class CustomerScores(dict):
    """The scores `customer show` prints (its fields), with the fits they used and the notes to print."""

    def __init__(self, fields: dict[str, Any], fits: FitSet, notes: list[str]) -> None:
        super().__init__(fields)
        self.fits = fits
        self.notes = notes


def customer_scores(conn: Connection, customer_id: int, *, as_of: date | None = None,
                    model: str = DEFAULT_MODEL) -> CustomerScores | None:
    """The scores `customer show` prints; None for a customer who has not bought yet.

    From the stored fits (fitset.for_customer) and the customer's own purchases, read by index: as fast
    for 100,000 customers as for 10. With no usable stored fit, the whole base is scored once as a
    report would (slow for a large shop, once): the caller stores the fits so the next show is instant.
    """
    day = as_of or values.now().date()
    one = load_one(conn, customer_id, day)
    if not len(one):
        return None
    fits = fitset.for_customer(conn, model, day)
    if fits is not None:
        s = _named(predict(one, fits, fits.scoring_model(model), DEFAULT_HORIZON_DAYS, 0.0, against_population=True))
        index = 0
    else:
        s = score(conn, as_of=day, model=model)
        index = int(np.nonzero(s.base.customer_id == customer_id)[0][0])
    # A customer more likely gone than not is explained the churn report's way.
    row = next(rows.rows(conn, s, [index], _one_customer_why(s)))
    return CustomerScores({
        "segment": row["segment"],
        "rfm": f"{row['recency_score']}{row['frequency_score']}{row['monetary_score']}",
        "p_alive": row["p_alive"],
        "churn_risk": row["churn_risk"],
        "expected_purchases_next_year": row["expected_purchases"],
        "predicted_clv": row["predicted_clv"],
        "typical_gap_days": row["typical_gap_days"],
        "model": row["model"],
        "why": row["why"],
    }, s.fits, s.notes)
