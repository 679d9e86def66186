"""From the database to the models' inputs: one row per buying customer, as of a date.

The literature's definitions (README, "How the reports work"):
- a transaction is a calendar day with one or more purchases; that day's amounts add up;
- x   = repeat transaction days (after the first),
- t_x = days from the first to the last transaction,
- T   = days from the first transaction to the as-of date D (purchases on D count),
- m   = mean amount of the repeat transactions (x > 0 only).
Refunds reduce revenue; they are not transactions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date

import numpy as np

# Aggregated in SQL so that only one row per customer crosses into Python,
# whatever the number of purchases. The first day's amount is needed to take it
# out of m (the first purchase is not a repeat transaction).
_BASE_SQL = """
WITH days AS MATERIALIZED (
    SELECT customer_id, substr(at, 1, 10) AS day, sum(amount_cents) AS cents
      FROM interactions
     WHERE type = 'purchase' AND at < :end
     GROUP BY customer_id, day
),
per_customer AS (
    SELECT customer_id, count(*) AS days, min(day) AS first_day, max(day) AS last_day, sum(cents) AS cents
      FROM days GROUP BY customer_id
)
SELECT p.customer_id, p.days, p.first_day, p.last_day, p.cents,
       d.cents AS first_day_cents,
       coalesce(r.refund_cents, 0) AS refund_cents,
       coalesce(f.open_complaints, 0) AS open_complaints,
       coalesce(f.low_ratings, 0) AS low_ratings
  FROM per_customer p
  JOIN days d ON d.customer_id = p.customer_id AND d.day = p.first_day
  LEFT JOIN (
       SELECT customer_id, sum(amount_cents) AS refund_cents
         FROM interactions WHERE type = 'refund' AND at < :end GROUP BY customer_id
  ) r ON r.customer_id = p.customer_id
  LEFT JOIN (
       SELECT customer_id,
              sum(type = 'complaint' AND (resolved_at IS NULL OR resolved_at >= :end)) AS open_complaints,
              sum(rating <= 2 AND at >= :low_rating_since) AS low_ratings
         FROM feedback WHERE at < :end GROUP BY customer_id
  ) f ON f.customer_id = p.customer_id
 ORDER BY p.customer_id
"""

# A rating of 1 or 2 within this many days before D counts as a churn signal.
LOW_RATING_WINDOW_DAYS = 365


@dataclass
class CustomerBase:
    """Column arrays, one entry per customer with at least one purchase on or before as_of."""

    as_of: date
    customer_id: np.ndarray  # int
    x: np.ndarray  # repeat transaction days
    t_x: np.ndarray  # days, first to last transaction
    T: np.ndarray  # days, first transaction to as_of
    m: np.ndarray  # mean repeat-transaction amount (0 where x == 0)
    revenue_cents: np.ndarray  # purchases minus refunds, in cents (exact integers)
    first_purchase: list[str]
    last_purchase: list[str]
    open_complaints: np.ndarray
    low_ratings: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_id)

    @property
    def purchases(self) -> np.ndarray:
        """Transaction days, the first included."""
        return self.x + 1

    @property
    def days_since_last_purchase(self) -> np.ndarray:
        return self.T - self.t_x

    @property
    def typical_gap_days(self) -> np.ndarray:
        """Each customer's mean gap between purchase days (NaN for a one-time buyer)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.x > 0, self.t_x / np.maximum(self.x, 1), np.nan)


def load(conn: sqlite3.Connection, as_of: date) -> CustomerBase:
    from datetime import timedelta

    # Every stored moment on day D sorts below 'D~' ('~' sorts after 'T' and digits).
    end = as_of.isoformat() + "~"
    low_since = (as_of - timedelta(days=LOW_RATING_WINDOW_DAYS)).isoformat()
    rows = conn.execute(_BASE_SQL, {"end": end, "low_rating_since": low_since}).fetchall()
    n = len(rows)
    customer_id = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
    days = np.fromiter((r[1] for r in rows), dtype=float, count=n)
    first = [r[2] for r in rows]
    last = [r[3] for r in rows]
    cents = np.fromiter((r[4] for r in rows), dtype=float, count=n)
    first_cents = np.fromiter((r[5] for r in rows), dtype=float, count=n)
    refunds = np.fromiter((r[6] for r in rows), dtype=float, count=n)
    ordinal = np.fromiter((date.fromisoformat(d).toordinal() for d in first), dtype=float, count=n)
    last_ordinal = np.fromiter((date.fromisoformat(d).toordinal() for d in last), dtype=float, count=n)
    x = days - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(x > 0, (cents - first_cents) / np.maximum(x, 1) / 100.0, 0.0)
    return CustomerBase(
        as_of=as_of,
        customer_id=customer_id,
        x=x,
        t_x=last_ordinal - ordinal,
        T=as_of.toordinal() - ordinal,
        m=m,
        revenue_cents=(cents - refunds).astype(np.int64),
        first_purchase=first,
        last_purchase=last,
        open_complaints=np.fromiter((r[7] for r in rows), dtype=np.int64, count=n),
        low_ratings=np.fromiter((r[8] for r in rows), dtype=np.int64, count=n),
    )
