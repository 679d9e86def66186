"""The report rows, built a chunk at a time from the scores (report.Scores), with the names read per chunk
and each row's `why`.

rows() gives a ReportRows: an iterator of one dict a customer (tables, json, `customer show`), which can
also hand a writer the same values a column at a time (column_chunks: a list per column for a chunk of
rows, no dict per row, the why sentences made a column at a time when the sentence allows it): that is
what write_csv uses for a report of every customer.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from crmcli import values
from crmcli.db import Connection

if TYPE_CHECKING:
    from crmcli.analytics.report import Scores

# json_each keeps the chunk's order (ORDER BY its key), so the names come back as lists beside the ids
# with no dict to build; a customer deleted meanwhile gives NULLs (then no name, as before).
_NAMES_SQL = ("SELECT c.name, c.email FROM json_each(?) j LEFT JOIN customers c ON c.id = j.value "
              "ORDER BY j.key")


def names(conn: Connection, ids: list[int]) -> tuple[list[str], list[str | None]]:
    """The names and emails of the customers `ids`, in that order ('' and None for one not found)."""
    found = conn.execute(_NAMES_SQL, (json.dumps(ids),)).fetchall()
    return ([name if name is not None else "" for name, _ in found], [email for _, email in found])


# Amounts up to this many cents convert through int64 exactly (float's integers are exact to 2**53).
_EXACT_CENTS = 2.0 ** 53


def _money_list(amounts: np.ndarray) -> list[Any]:
    """Amounts as exact Decimals with two places (None where not finite): values.cents_to_amount of the
    rounded cents, converted in bulk when every amount is finite and small enough to be exact in int64."""
    cents = np.round(amounts * 100)
    finite = np.isfinite(cents)
    if finite.all() and (not len(cents) or np.abs(cents).max() < _EXACT_CENTS):
        return [Decimal(c).scaleb(-values.CURRENCY_DECIMALS) for c in cents.astype(np.int64).tolist()]
    return [values.cents_to_amount(int(c)) if ok else None
            for c, ok in zip(cents.tolist(), finite.tolist(), strict=True)]


def _rounded_list(numbers: np.ndarray, digits: int) -> list[Any]:
    rounded = np.round(numbers, digits)
    if not np.isnan(rounded).any():
        return rounded.tolist()
    return [None if v != v else v for v in rounded.tolist()]  # NaN -> None


def _days(ordinals: np.ndarray) -> list[str]:
    """date.fromordinal(day).isoformat() of each day, each distinct day converted once."""
    distinct, where = np.unique(ordinals, return_inverse=True)
    texts = [date.fromordinal(day).isoformat() for day in distinct.tolist()]
    return [texts[i] for i in where.tolist()]


def _picked(items: Sequence[Any], pick: list[int]) -> list[Any]:
    if len(pick) == 1:
        return [items[pick[0]]]
    return list(operator.itemgetter(*pick)(items)) if pick else []


# Each column of the scores, for the customers at indices `chosen`, as a plain list: numpy does the
# arithmetic and converts in bulk, many times faster than reading numpy scalars one customer at a time.
_COLUMNS: dict[str, Callable[[Scores, np.ndarray], list[Any]]] = {
    "customer_id": lambda s, chosen: s.base.customer_id[chosen].tolist(),
    "segment": lambda s, chosen: _picked(s.segment, chosen.tolist()),
    "recency_score": lambda s, chosen: s.recency_score[chosen].tolist(),
    "frequency_score": lambda s, chosen: s.frequency_score[chosen].tolist(),
    "monetary_score": lambda s, chosen: s.monetary_score[chosen].tolist(),
    "purchases": lambda s, chosen: s.base.purchases[chosen].astype(np.int64).tolist(),
    "revenue": lambda s, chosen: [values.cents_to_amount(c) for c in s.base.revenue_cents[chosen].tolist()],
    "last_purchase": lambda s, chosen: _days(s.base.last_ordinal[chosen]),
    "days_since_last_purchase": lambda s, chosen: s.base.days_since_last_purchase[chosen].astype(np.int64).tolist(),
    "typical_gap_days": lambda s, chosen: _rounded_list(s.base.typical_gap_days[chosen], 1),
    "p_alive": lambda s, chosen: _rounded_list(s.p_alive[chosen], 4),
    "churn_risk": lambda s, chosen: _rounded_list(s.churn_risk[chosen], 4),
    "expected_purchases": lambda s, chosen: _rounded_list(s.expected_purchases[chosen], 2),
    "expected_spend": lambda s, chosen: _money_list(s.expected_spend[chosen]),
    "predicted_clv": lambda s, chosen: _money_list(s.predicted_clv[chosen]),
    "value_if_active": lambda s, chosen: _money_list(s.value_if_active[chosen]),
    "value_at_risk": lambda s, chosen: _money_list(s.value_at_risk[chosen]),
    "open_complaints": lambda s, chosen: s.base.open_complaints[chosen].tolist(),
    "low_ratings": lambda s, chosen: s.base.low_ratings[chosen].tolist(),
}
# Every key of a row, in the order a row's dict has them.
ROW_KEYS = (*_COLUMNS, "rank", "name", "email", "model", "why")


def row_columns(s: Scores, chosen: np.ndarray, keys: Collection[str] = tuple(_COLUMNS)) -> dict[str, list[Any]]:
    """The per-customer values (those of `keys`, all by default) of the customers at indices `chosen`."""
    return {key: column(s, chosen) for key, column in _COLUMNS.items() if key in keys}


_CHUNK = 5000


class ReportRows:
    """The rows for the customers at indices `order`, ranked from 1, each with its `why` (explain(row), or
    explain.column(columns) for a chunk when explain has one: explain.Sentences).

    Rows are built a chunk at a time as they are consumed, so a report of every customer never sits in
    memory. Names are read per chunk: consume the rows inside the same read transaction (db.snapshot) as
    the scores. Iterate for dicts, or call column_chunks once for lists; not both.
    """

    def __init__(self, conn: Connection, s: Scores, order: Sequence[int], explain: Callable[..., str]):
        self._conn, self._s, self._explain = conn, s, explain
        self._order = np.asarray(order, dtype=np.int64)
        self._started = False
        self._dicts: Iterator[dict[str, Any]] | None = None

    def __iter__(self) -> ReportRows:
        return self

    def __next__(self) -> dict[str, Any]:
        if self._dicts is None:
            self._dicts = self._generate_dicts()
        return next(self._dicts)

    def column_chunks(self, keys: Sequence[str]) -> Iterator[dict[str, list[Any]]]:
        """Chunks of rows, each the values of `keys` as one list per key (all the same length)."""
        wanted = set(keys)
        column = getattr(self._explain, "column", None)
        if "why" in wanted and column is None:
            # A sentence that takes a whole row: the rows' dicts, turned back into lists.
            for chunk in self._chunks(ROW_KEYS):
                yield {key: chunk[key] for key in keys}
            return
        needs = wanted | set(getattr(self._explain, "fields", ())) if "why" in wanted else wanted
        for chunk in self._chunks(needs):
            yield {key: chunk[key] for key in keys}

    def _generate_dicts(self) -> Iterator[dict[str, Any]]:
        for chunk in self._chunks(ROW_KEYS):
            for row in zip(*(chunk[key] for key in ROW_KEYS), strict=True):
                yield dict(zip(ROW_KEYS, row, strict=True))

    def _chunks(self, keys: Collection[str]) -> Iterator[dict[str, list[Any]]]:
        """The chunks' columns for `keys` (and whatever they need), why last: from explain.column, or from
        each row's dict."""
        if self._started:
            raise RuntimeError("the report's rows are read once")
        self._started = True
        s, explain = self._s, self._explain
        column = getattr(explain, "column", None)
        rank = 0
        for start in range(0, len(self._order), _CHUNK):
            chosen = self._order[start:start + _CHUNK]
            count = len(chosen)
            columns = row_columns(s, chosen, keys)
            columns["rank"] = list(range(rank + 1, rank + count + 1))
            rank += count
            if "name" in keys or "email" in keys:
                ids = columns["customer_id"] if "customer_id" in columns else s.base.customer_id[chosen].tolist()
                columns["name"], columns["email"] = names(self._conn, ids)
            columns["model"] = [s.model] * count
            if "why" in keys:
                if column is not None:
                    columns["why"] = column(columns)
                else:
                    row_keys = list(columns)
                    columns["why"] = [explain(dict(zip(row_keys, row, strict=True)))
                                      for row in zip(*columns.values(), strict=True)]
            yield columns


def rows(conn: Connection, s: Scores, order: Sequence[int], explain: Callable[..., str]) -> ReportRows:
    """The rows for the customers in `order` (indices into the scores), ranked from 1, each with its `why`."""
    return ReportRows(conn, s, order, explain)
