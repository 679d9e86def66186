"""What the reports show when there is too little history to fit a model: each customer's own history,
and no forecast.

A purchase model is a distribution across customers (how purchase rates and drop-out vary between
them), and it is estimated from the customers who came back: with a handful of repeat buyers there is
nothing to estimate it from. Earlier versions extrapolated anyway, from each customer's usual gap
alone, and told a new shop that a one-time buyer of today would buy 14 times next year (she was
given the regulars' gap: the customers who never came back were not counted) and that a regular 11
days into a 24-day habit was 37% likely gone. So below the models' minimum (heuristic.can_fit: at
least 100 buyers, 20 of them repeat buyers, and 10% of the buyers; heuristic.py says why) the reports
say so, say how much more a fit needs, and show what is known: RFM, the last purchase, the usual gap,
spend so far. P(alive), expected purchases, CLV and value at risk are left empty rather than made up.

The churn report still needs an order, and `report summary` a count of customers lost. Both come from
the hiatus rule, the managers' rule that Wübben & von Wangenheim (2008, "Instant customer base
analysis: managerial heuristics often 'get it right'", Journal of Marketing 72) found to classify
active and inactive customers about as well as Pareto/NBD: a customer silent for longer than a
hiatus is counted inactive. The hiatus here is each customer's own: HIATUS_GAPS (3) times their usual
gap between purchase days, the shop's median gap for a one-time buyer (heuristic.usual_gap; 90 days
when nobody has bought twice). Why 3: if returns at the usual gap were memoryless, a customer who is
still buying would be silent that long only e^-3, about 5% of the time. The churn report ranks by
`overdue` = days silent / usual gap, largest first: a plain fact about the customer, not a probability.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from crmcli.analytics import heuristic

MODEL = "history"  # the `model` column's value when no model was fitted
HIATUS_GAPS = 3.0


def overdue(x, t_x, T, one_time_gap: float | None = None) -> np.ndarray:
    """Days silent divided by the usual gap (heuristic.usual_gap): over 1, later than usual."""
    x, t_x, T = (np.asarray(a, dtype=float) for a in (x, t_x, T))
    return (T - t_x) / heuristic.usual_gap(x, t_x, one_time_gap)


def lapsed(x, t_x, T, one_time_gap: float | None = None) -> np.ndarray:
    """Whether each customer has been silent for longer than their hiatus (HIATUS_GAPS usual gaps)."""
    return overdue(x, t_x, T, one_time_gap) > HIATUS_GAPS


def shortfall(repeat: int, customers: int) -> str:
    """What a fit needs that the base lacks, in words: '2 of 3 buyers bought more than once; a fit needs
    at least 100 buyers (97 more) and 20 repeat buyers (18 more)'."""
    if not customers:
        return (f"no purchases yet; a fit needs at least {heuristic.MIN_CUSTOMERS} buyers and "
                f"{heuristic.MIN_REPEAT_CUSTOMERS} repeat buyers")
    needs = []
    if customers < heuristic.MIN_CUSTOMERS:
        needs.append(f"{heuristic.MIN_CUSTOMERS} buyers ({heuristic.MIN_CUSTOMERS - customers} more)")
    needed = max(heuristic.MIN_REPEAT_CUSTOMERS, math.ceil(heuristic.MIN_REPEAT_SHARE * max(customers,
                                                                                               heuristic.MIN_CUSTOMERS)))
    if repeat < needed:
        share = f", {heuristic.MIN_REPEAT_SHARE:.0%} of the buyers" if needed > heuristic.MIN_REPEAT_CUSTOMERS else ""
        needs.append(f"{needed} repeat buyers{share} ({needed - repeat} more)")
    what = " and ".join(needs) if needs else "more repeat buyers"
    buyers = f"{customers} buyer{'' if customers == 1 else 's'}"
    return f"{repeat} of {buyers} bought more than once; a fit needs at least {what}"


def hiatus_days(row: dict[str, Any], one_time_gap: float) -> float:
    """A report row's hiatus: HIATUS_GAPS usual gaps (lapsed() for one row)."""
    return HIATUS_GAPS * max(row["typical_gap_days"] or one_time_gap, heuristic.MIN_GAP_DAYS)


def average_purchase(revenue_cents, purchases) -> float:
    """The shop's average purchase: revenue (net of refunds, none below 0 a customer) per purchase day,
    over every customer. What a one-time buyer's next purchase is expected to be worth when there are
    too few repeat buyers for Gamma-Gamma: Gamma-Gamma itself gives a customer with no repeat purchase
    the population's mean spend, not her own first amount (one 2,500.00 purchase says little of the
    next). 0.0 for an empty base."""
    days = float(np.sum(purchases))
    return float(np.sum(np.maximum(np.asarray(revenue_cents, dtype=float), 0.0))) / 100.0 / days if days else 0.0


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _last(row: dict[str, Any]) -> str:
    days = row["days_since_last_purchase"]
    return "today" if days == 0 else _plural(days, "day") + " ago"


def _rhythm(row: dict[str, Any]) -> str:
    if row["purchases"] == 1:
        return f"bought once, {_last(row)}"
    gap = row["typical_gap_days"]
    if not gap:
        return f"bought on one day only, {_last(row)}"
    silent = row["days_since_last_purchase"]
    where = "within the usual gap" if silent <= gap else f"{silent / gap:.1f}x the usual gap"
    return (f"buys about every {gap:.0f} days ({_plural(row['purchases'], 'purchase day')}); "
            f"last bought {_last(row)}, {where}")


def why_best(row: dict[str, Any]) -> str:
    """The best report's sentence without a model: history only (the note and the model column say why)."""
    return f"{_rhythm(row)}; spent {row['revenue']:.2f}; RFM {row['recency_score']}{row['frequency_score']}" \
           f"{row['monetary_score']}"


def why_churn(row: dict[str, Any], one_time_gap: float) -> str:
    """The churn report's sentence without a model: the silence against the customer's own rhythm
    (one_time_gap: the usual gap a one-time buyer is given, as in overdue())."""
    parts = [_rhythm(row)]
    silent = row["days_since_last_purchase"]
    hiatus = hiatus_days(row, one_time_gap)
    if silent > hiatus:
        parts.append(f"counted lapsed: silent over {HIATUS_GAPS:.0f} usual gaps ({hiatus:.0f} days)")
    if row["open_complaints"]:
        parts.append(_plural(row["open_complaints"], "open complaint"))
    if row["low_ratings"]:
        parts.append(_plural(row["low_ratings"], "low rating"))
    return "; ".join(parts)  # short enough to sit under its row at 80 columns
