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

from crmcli import sql

# Aggregated in SQL so that only one row per customer crosses into Python,
# whatever the number of purchases. The scan follows the covering index
# (customer_id, type, at, amount_cents): no table lookups and no sort. The first
# day's amount is needed to take it out of m (the first purchase is not a repeat
# transaction); it is one index range per customer (sql.first_day_cents). INDEXED BY because the
# planner prefers (type, at) and then sorts every purchase: 5x slower at 1.7M.
# A purchase without an amount (NULL, written by another program) is a transaction
# worth 0: sum() skips it, and coalesce makes a day of nothing else 0, not NULL (NaN).
# Revenue is sql.NET_REVENUE_CENTS's purchases minus refunds, summed here in two parts
# (purchases over the covering index, refunds apart) and subtracted in load().
# {only} is empty for the whole base, or limits every part to one customer (load_one): then
# each part is a range of an index that starts with customer_id, whatever the base's size.
_FEEDBACK = """
  LEFT JOIN (
       SELECT customer_id,
              sum(type = 'complaint' AND (resolved_at IS NULL OR resolved_at >= :end)) AS open_complaints,
              sum(rating <= 2 AND at >= :low_rating_since) AS low_ratings
         FROM feedback WHERE at < :end {only} GROUP BY customer_id
  ) f ON f.customer_id = p.customer_id"""
_BASE_TEMPLATE = f"""
SELECT p.customer_id, p.days,
       julianday(p.first_purchase_day) - :julian_ordinal AS first_ordinal,
       julianday(p.last_day) - :julian_ordinal AS last_ordinal,
       p.cents,
       {sql.first_day_cents("p", "o.at < :end")} AS first_day_cents,
       coalesce(r.refund_cents, 0) AS refund_cents,
       coalesce(f.open_complaints, 0) AS open_complaints,
       coalesce(f.low_ratings, 0) AS low_ratings,
       p.records
  FROM (SELECT customer_id,
               count(*) AS records,
               count(DISTINCT {sql.DAY}) AS days,
               {sql.day_of("min(at)")} AS first_purchase_day,
               {sql.day_of("max(at)")} AS last_day,
               coalesce(sum(amount_cents), 0) AS cents
          FROM interactions INDEXED BY interactions_customer_type_at
         WHERE type = 'purchase' AND at < :end {{only}}
         GROUP BY customer_id) p
  LEFT JOIN (
       SELECT customer_id, sum(amount_cents) AS refund_cents
         FROM interactions WHERE type = 'refund' AND at < :end {{only}} GROUP BY customer_id
  ) r ON r.customer_id = p.customer_id{_FEEDBACK}
 ORDER BY p.customer_id
"""
_BASE_SQL = _BASE_TEMPLATE.format(only="")
_ONE_SQL = _BASE_TEMPLATE.format(only="AND customer_id = :customer_id")

# The same rows from customer_summary (migrations.M008, M010: one row per customer, kept on every write),
# when it holds exactly what the aggregate would count: no purchase or refund is dated on or after
# :end (one seek of the (type, at) index each). Its figures are sql.summary_of's, the aggregate's own
# definitions (tests/guarantees/test_customer_summary.py keeps them equal), so the rows are the same:
# a report as of the last data day or later reads 100,000 rows instead of 1.7 million purchases. (A
# purchase of a customer another program deleted with foreign keys off has no summary row, and so no
# row here; the aggregate would show it without a name.)
_COMPLETE_SQL = """
SELECT NOT EXISTS (SELECT 1 FROM interactions WHERE type = 'purchase' AND at >= :end)
   AND NOT EXISTS (SELECT 1 FROM interactions WHERE type = 'refund' AND at >= :end)"""
_SUMMARY_SQL = f"""
SELECT p.customer_id, p.purchase_days,
       julianday(p.first_purchase_day) - :julian_ordinal AS first_ordinal,
       julianday(p.last_purchase_day) - :julian_ordinal AS last_ordinal,
       p.purchase_cents,
       p.first_day_cents,
       p.purchase_cents - p.net_revenue_cents AS refund_cents,
       coalesce(f.open_complaints, 0) AS open_complaints,
       coalesce(f.low_ratings, 0) AS low_ratings,
       p.purchase_records
  FROM customer_summary p{_FEEDBACK.format(only="")}
 WHERE p.purchase_days > 0
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
    last_ordinal: np.ndarray  # date.toordinal() of the last purchase day
    open_complaints: np.ndarray
    low_ratings: np.ndarray
    purchase_records: np.ndarray  # purchase rows (a day with two receipts has two)

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


# julianday('0001-01-01') - date(1, 1, 1).toordinal(): turns SQLite's Julian days
# into Python's day ordinals, so dates cross into numpy as numbers, not strings.
_JULIAN_ORDINAL = 1721424.5
_FETCH_ROWS = 20_000


def load(conn: sqlite3.Connection, as_of: date) -> CustomerBase:
    """One row per customer with a purchase on or before `as_of` (purchases on that day count): from
    customer_summary when nothing is dated after that day, else aggregated from the purchases."""
    complete = conn.execute(_COMPLETE_SQL, {"end": _end(as_of)}).fetchone()[0]
    return _load(conn, as_of, _SUMMARY_SQL if complete else _BASE_SQL, {})


def _end(as_of: date) -> str:
    # Every stored moment on day D sorts below 'D~' ('~' sorts after 'T' and digits).
    return as_of.isoformat() + "~"


def load_one(conn: sqlite3.Connection, customer_id: int, as_of: date) -> CustomerBase:
    """load() for one customer: the same row, or none if they had not bought by `as_of`, read by index."""
    return _load(conn, as_of, _ONE_SQL, {"customer_id": customer_id})


def _load(conn: sqlite3.Connection, as_of: date, query: str, extra: dict) -> CustomerBase:
    from datetime import timedelta

    end = _end(as_of)
    low_since = (as_of - timedelta(days=LOW_RATING_WINDOW_DAYS)).isoformat()
    cursor = conn.execute(query, {"end": end, "low_rating_since": low_since,
                                  "julian_ordinal": _JULIAN_ORDINAL, **extra})
    # A chunk of rows at a time into one float table: the full list of row tuples
    # would cost more memory than everything else in a report.
    chunks = []
    while batch := cursor.fetchmany(_FETCH_ROWS):
        chunks.append(np.array(batch, dtype=np.float64))
    table = np.concatenate(chunks) if chunks else np.empty((0, 10))
    (customer_id, days, first_ordinal, last_ordinal, cents, first_cents, refunds,
     open_complaints, low_ratings, records) = table.T
    x = days - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(x > 0, (cents - first_cents) / np.maximum(x, 1) / 100.0, 0.0)
    return CustomerBase(
        as_of=as_of,
        customer_id=customer_id.astype(np.int64),
        x=x,
        t_x=last_ordinal - first_ordinal,
        T=as_of.toordinal() - first_ordinal,
        m=m,
        revenue_cents=(cents - refunds).astype(np.int64),
        last_ordinal=last_ordinal.astype(np.int64),
        open_complaints=open_complaints.astype(np.int64),
        low_ratings=low_ratings.astype(np.int64),
        purchase_records=records.astype(np.int64),
    )
