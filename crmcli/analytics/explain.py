"""The `why` sentences of the best and churn reports: one line a customer, from the row's own numbers."""

from __future__ import annotations

from typing import Any

from crmcli.analytics.data import LOW_RATING_WINDOW_DAYS


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _habit(row: dict[str, Any]) -> str:
    if row["purchases"] == 1:
        return f"bought once, {_days_ago(row['days_since_last_purchase'])}"
    return (f"buys about every {row['typical_gap_days']:.0f} days ({_plural(row['purchases'], 'purchase day')}); "
            f"last bought {_days_ago(row['days_since_last_purchase'])}")


def _days_ago(days: int) -> str:
    return "today" if days == 0 else _plural(days, "day") + " ago"


def why_best(row: dict[str, Any], horizon_days: int) -> str:
    parts = [_habit(row), f"spent {row['revenue']:.2f}"]
    if row["model"] == "heuristic":
        parts.append(f"about {row['expected_purchases']:.1f} purchases expected in {horizon_days} days "
                     "from their usual gap")
    else:
        parts.append(f"{row['p_alive']:.0%} likely still a customer; "
                     f"about {row['expected_purchases']:.1f} purchases expected in {horizon_days} days")
    parts.append(f"RFM {row['recency_score']}{row['frequency_score']}{row['monetary_score']}")
    return "; ".join(parts)


def why_churn(row: dict[str, Any]) -> str:
    parts = []
    gap = row["typical_gap_days"]
    silent = row["days_since_last_purchase"]
    if row["purchases"] == 1:
        parts.append(f"bought once, silent for {silent} days")
    elif gap and gap > 0:
        parts.append(f"bought about every {gap:.0f} days; silent for {silent} days "
                     f"({silent / gap:.1f}x the usual gap)")
    else:
        parts.append(f"bought {row['purchases']} times on one day; silent for {silent} days")
    parts.append(f"{row['churn_risk']:.0%} likely to have left")
    if row["open_complaints"]:
        parts.append(_plural(row["open_complaints"], "open complaint"))
    if row["low_ratings"]:
        parts.append(_plural(row["low_ratings"], "low rating") + f" in the last {LOW_RATING_WINDOW_DAYS} days")
    parts.append(f"worth about {row['value_if_active']:.2f} a year if still active")
    return "; ".join(parts)
