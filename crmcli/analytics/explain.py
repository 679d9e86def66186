"""The `why` sentences of the best and churn reports: one line a customer, from the row's own numbers.

Each sentence is written once, as a function of the row's values (_best_sentence, _churn_sentence). A row
(a dict, `customer show`, a table) gets it through why_best / why_churn; a report of every customer gets a
whole column of them at once through their `column` (rows.ReportRows, for csv), which maps the same
function over the column lists: no dict per row, the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crmcli.analytics.data import LOW_RATING_WINDOW_DAYS

# The values each sentence reads, in the order its function takes them.
BEST_FIELDS = ("purchases", "days_since_last_purchase", "typical_gap_days", "revenue", "p_alive",
               "expected_purchases", "recency_score", "frequency_score", "monetary_score")
CHURN_FIELDS = ("purchases", "typical_gap_days", "days_since_last_purchase", "churn_risk", "open_complaints",
                "low_ratings", "value_if_active")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _days_ago(days: int) -> str:
    return "today" if days == 0 else _plural(days, "day") + " ago"


def _best_sentence(horizon_days: int, purchases: int, silent: int, gap: float, revenue: Any, p_alive: float,
                   expected: float, r_score: int, f_score: int, m_score: int) -> str:
    if purchases == 1:
        habit = f"bought once, {_days_ago(silent)}"
    else:
        habit = (f"buys about every {gap:.0f} days ({_plural(purchases, 'purchase day')}); "
                 f"last bought {_days_ago(silent)}")
    outlook = f"{p_alive:.0%} likely still a customer; about {expected:.1f} purchases expected in {horizon_days} days"
    return f"{habit}; spent {revenue:.2f}; {outlook}; RFM {r_score}{f_score}{m_score}"


def _churn_sentence(purchases: int, gap: float | None, silent: int, churn_risk: float, open_complaints: int,
                    low_ratings: int, value_if_active: Any) -> str:
    if purchases == 1:
        parts = [f"bought once, silent for {silent} days"]
    elif gap and gap > 0:
        parts = [f"bought about every {gap:.0f} days; silent for {silent} days "
                 f"({silent / gap:.1f}x the usual gap)"]
    else:
        parts = [f"bought {purchases} times on one day; silent for {silent} days"]
    parts.append(f"{churn_risk:.0%} likely to have left")
    if open_complaints:
        parts.append(_plural(open_complaints, "open complaint"))
    if low_ratings:
        parts.append(_plural(low_ratings, "low rating") + f" in the last {LOW_RATING_WINDOW_DAYS} days")
    parts.append(f"worth about {value_if_active:.2f} a year if still active")
    return "; ".join(parts)


class Sentences:
    """A why sentence: called with a row, or `column(columns)` for the lists of many rows at once."""

    def __init__(self, sentence: Callable[..., str], fields: Sequence[str], *leading: Any) -> None:
        self._sentence, self._fields, self._leading = sentence, fields, leading

    @property
    def fields(self) -> Sequence[str]:
        """The row values the sentence reads."""
        return self._fields

    def __call__(self, row: Mapping[str, Any]) -> str:
        return self._sentence(*self._leading, *(row[field] for field in self._fields))

    def column(self, columns: Mapping[str, Sequence[Any]]) -> list[str]:
        """The sentences of len(columns[...]) rows, from the rows' values a column at a time."""
        lists = [columns[field] for field in self._fields]
        if self._leading:
            count = len(lists[0])
            lists = [[value] * count for value in self._leading] + lists
        return list(map(self._sentence, *lists))


def best_sentences(horizon_days: int) -> Sentences:
    """The best report's why, for this horizon."""
    return Sentences(_best_sentence, BEST_FIELDS, horizon_days)


why_churn = Sentences(_churn_sentence, CHURN_FIELDS)


def why_best(row: Mapping[str, Any], horizon_days: int) -> str:
    return best_sentences(horizon_days)(row)
