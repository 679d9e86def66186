"""The report rows: one dict a customer, built a chunk at a time from the scores (report.Scores), with
the names read per chunk and each row's `why`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from crmcli import values

if TYPE_CHECKING:
    from crmcli.analytics.report import Scores


def names(conn: sqlite3.Connection, ids: list[int]) -> dict[int, tuple[str, str | None]]:
    names: dict[int, tuple[str, str | None]] = {}
    # In chunks: SQLite limits the number of bound parameters.
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(f"SELECT id, name, email FROM customers WHERE id IN ({marks})", chunk):
            names[row[0]] = (row[1], row[2])
    return names


def _money_list(amounts: np.ndarray) -> list[Any]:
    """Amounts as exact Decimals with two places (None where not finite)."""
    cents = np.round(amounts * 100)
    finite = np.isfinite(cents)
    return [values.cents_to_amount(int(c)) if ok else None
            for c, ok in zip(cents.tolist(), finite.tolist(), strict=True)]


def _rounded_list(numbers: np.ndarray, digits: int) -> list[Any]:
    return [None if v != v else v for v in np.round(numbers, digits).tolist()]  # NaN -> None


def row_columns(s: Scores, chosen: np.ndarray) -> dict[str, list[Any]]:
    """The per-customer values of the rows for the customers at indices `chosen`, as plain lists.

    Built a column at a time for a chunk of customers: numpy does the arithmetic
    and converts in bulk, which is many times faster than reading numpy scalars
    one customer at a time, and a chunk keeps memory flat.
    """
    b = s.base
    pick = chosen.tolist()
    return {
        "customer_id": b.customer_id[chosen].tolist(),
        "segment": [s.segment[i] for i in pick],
        "recency_score": s.recency_score[chosen].tolist(),
        "frequency_score": s.frequency_score[chosen].tolist(),
        "monetary_score": s.monetary_score[chosen].tolist(),
        "purchases": b.purchases[chosen].astype(np.int64).tolist(),
        "revenue": [values.cents_to_amount(c) for c in b.revenue_cents[chosen].tolist()],
        "last_purchase": [date.fromordinal(day).isoformat() for day in b.last_ordinal[chosen].tolist()],
        "days_since_last_purchase": b.days_since_last_purchase[chosen].astype(np.int64).tolist(),
        "typical_gap_days": _rounded_list(b.typical_gap_days[chosen], 1),
        "p_alive": _rounded_list(s.p_alive[chosen], 4),
        "churn_risk": _rounded_list(s.churn_risk[chosen], 4),
        "expected_purchases": _rounded_list(s.expected_purchases[chosen], 2),
        "expected_spend": _money_list(s.expected_spend[chosen]),
        "predicted_clv": _money_list(s.predicted_clv[chosen]),
        "value_if_active": _money_list(s.value_if_active[chosen]),
        "value_at_risk": _money_list(s.value_at_risk[chosen]),
        "open_complaints": b.open_complaints[chosen].tolist(),
        "low_ratings": b.low_ratings[chosen].tolist(),
    }


_CHUNK = 5000


def rows(conn: sqlite3.Connection, s: Scores, order: list[int], explain) -> Iterator[dict[str, Any]]:
    """The rows for the customers in `order`, ranked from 1, each with its `why`.

    Rows are built a chunk at a time as they are written, so a report of every
    customer never sits in memory. Names are read per chunk: consume the rows
    inside the same read transaction (db.snapshot) as the scores.
    """
    order_array = np.asarray(order, dtype=np.int64)

    def generate() -> Iterator[dict[str, Any]]:
        rank = 0
        for start in range(0, len(order_array), _CHUNK):
            columns = row_columns(s, order_array[start:start + _CHUNK])
            known = names(conn, columns["customer_id"])
            keys = list(columns)
            for values_of_row in zip(*columns.values(), strict=True):
                rank += 1
                row = dict(zip(keys, values_of_row, strict=True))
                row["rank"] = rank
                row["name"], row["email"] = known.get(row["customer_id"], ("", None))
                row["model"] = s.model
                row["why"] = explain(row)
                yield row

    return generate()
