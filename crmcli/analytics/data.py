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

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from crmcli import db, interactions, sql
from crmcli.db import Connection

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
# The feedback signals as of :end, per customer: complaints still open, ratings of 1 or 2 since
# :low_rating_since (load_many reads them on their own, the others joined to the purchases).
_SIGNALS = """
       SELECT customer_id,
              sum(type = 'complaint' AND (resolved_at IS NULL OR resolved_at >= :end)) AS open_complaints,
              sum(rating <= 2 AND at >= :low_rating_since) AS low_ratings
         FROM feedback WHERE at < :end {only} GROUP BY customer_id"""
_FEEDBACK = f"""
  LEFT JOIN ({_SIGNALS}
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


def load(conn: Connection, as_of: date) -> CustomerBase:
    """One row per customer with a purchase on or before `as_of` (purchases on that day count): from
    customer_summary when nothing is dated after that day, else aggregated from the purchases."""
    complete = conn.execute(_COMPLETE_SQL, {"end": _end(as_of)}).fetchone()[0]
    return _load(conn, as_of, _SUMMARY_SQL if complete else _BASE_SQL, {})


def _end(as_of: date) -> str:
    # Every stored moment on day D sorts below 'D~' ('~' sorts after 'T' and digits).
    return as_of.isoformat() + "~"


def load_one(conn: Connection, customer_id: int, as_of: date) -> CustomerBase:
    """load() for one customer: the same row, or none if they had not bought by `as_of`, read by index."""
    return _load(conn, as_of, _ONE_SQL, {"customer_id": customer_id})


def _low_since(as_of: date) -> str:
    from datetime import timedelta

    return (as_of - timedelta(days=LOW_RATING_WINDOW_DAYS)).isoformat()


def _table(conn: Connection, query: str, params: dict, width: int) -> np.ndarray:
    """A query's rows as one float table, read a chunk at a time: the full list of row tuples
    would cost more memory than everything else in a report."""
    # plain tuples: numpy reads them a third faster than sqlite3.Row
    cursor = db.tuples(conn, query, {"julian_ordinal": _JULIAN_ORDINAL, **params})
    chunks = []
    while batch := cursor.fetchmany(_FETCH_ROWS):
        chunks.append(np.array(batch, dtype=np.float64))
    return np.concatenate(chunks) if chunks else np.empty((0, width))


def _load(conn: Connection, as_of: date, query: str, extra: dict) -> CustomerBase:
    table = _table(conn, query, {"end": _end(as_of), "low_rating_since": _low_since(as_of), **extra}, 10)
    _refuse_undated(conn, table[:, 2], table[:, 3])
    return _base(as_of, *table.T)


def _refuse_undated(conn: Connection, *ordinals: np.ndarray) -> None:
    """A purchase day that is no date (julianday NULL: NaN here) is refused, with the row named, rather
    than a model fitted to a day that does not exist. The search for the row runs only once one is seen."""
    if any(np.isnan(days).any() for days in ordinals):
        raise interactions.undated_purchase(conn)


# load_many's inputs: the purchases up to the earliest day asked, aggregated per customer (load()'s own
# query); the purchase days after it up to the latest, one row per customer and day; the refunds; and
# per day asked the feedback signals.
_DAYS_SQL = f"""
SELECT customer_id, julianday({sql.DAY}) - :julian_ordinal AS ordinal, count(*) AS records,
       coalesce(sum(amount_cents), 0) AS cents
  FROM interactions
 WHERE type = 'purchase' AND at >= :start AND at < :end
 GROUP BY customer_id, {sql.DAY}
 ORDER BY customer_id, {sql.DAY}"""
_REFUNDS_SQL = f"""
SELECT customer_id, julianday({sql.DAY}) - :julian_ordinal AS ordinal, coalesce(amount_cents, 0)
  FROM interactions WHERE type = 'refund' AND at < :end"""
_SIGNALS_SQL = f"""
SELECT customer_id, coalesce(open_complaints, 0), coalesce(low_ratings, 0)
  FROM ({_SIGNALS.format(only="")}) AS signals"""


def load_many(conn: Connection, days: list[date]) -> Iterator[CustomerBase]:
    """load() as of each of several days, in their order (report summary's period ends), from two reads:
    the aggregate as of the earliest day, and the purchase days between it and the latest. Seven
    aggregates over 1.7 million purchases took 6.5 s at 100,000 customers; holding every purchase day
    instead cost 1.8 GB at 1,000,000. The same rows as load() gives for each day (a test holds them
    equal); one base at a time in memory."""
    if not days:
        return
    earliest, latest = min(days), max(days)
    before = _table(conn, _BASE_SQL, {"end": _end(earliest), "low_rating_since": _low_since(earliest)}, 10)
    # Of load()'s columns, those that do not change after the earliest day's figures are added to.
    old_ids, old_days, old_first, old_last, old_cents, old_first_cents = before[:, :6].T
    old_records = before[:, 9]
    after = _table(conn, _DAYS_SQL, {"start": _end(earliest), "end": _end(latest)}, 4)
    _refuse_undated(conn, old_first, old_last, after[:, 1])
    refunds = _table(conn, _REFUNDS_SQL, {"end": _end(latest)}, 3)
    for day in days:
        # The purchase days after the earliest day, up to this one; sorted by customer, then day, so each
        # customer's rows are one run, its first row its first day after the earliest.
        ids, ordinal, records, cents = after[after[:, 1] <= day.toordinal()].T
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, dtype=np.int64)
        stops = np.r_[starts[1:], len(ids)].astype(np.int64) if len(ids) else starts
        new_ids = ids[starts]
        buyers = np.union1d(old_ids, new_ids)
        old, new = np.searchsorted(buyers, old_ids), np.searchsorted(buyers, new_ids)
        columns = {name: np.zeros(len(buyers)) for name in ("days", "first", "last", "cents", "first_cents",
                                                            "records")}
        # The later purchases add to the earlier: first day (and its amount) from before where there was one.
        for name, earlier, later in (
                ("days", old_days, (stops - starts).astype(np.float64)),
                ("cents", old_cents, np.add.reduceat(cents, starts) if len(ids) else cents),
                ("records", old_records, np.add.reduceat(records, starts) if len(ids) else records)):
            columns[name][old] = earlier  # each customer once in old and in new: plain indexing adds
            columns[name][new] += later
        columns["first"][new], columns["first_cents"][new] = ordinal[starts], cents[starts]
        columns["first"][old], columns["first_cents"][old] = old_first, old_first_cents
        columns["last"][old] = old_last
        columns["last"][new] = ordinal[stops - 1]
        signals = _table(conn, _SIGNALS_SQL, {"end": _end(day), "low_rating_since": _low_since(day)}, 3)
        where, known = _positions(buyers, signals[:, 0])
        open_complaints, low_ratings = np.zeros(len(buyers)), np.zeros(len(buyers))
        open_complaints[where[known]], low_ratings[where[known]] = signals[known, 1], signals[known, 2]
        yield _base(day, buyers, columns["days"], columns["first"], columns["last"], columns["cents"],
                    columns["first_cents"], _per_buyer(buyers, refunds, day), open_complaints, low_ratings,
                    columns["records"])


def _per_buyer(buyers: np.ndarray, refunds: np.ndarray, day: date) -> np.ndarray:
    """Each buyer's refunds up to `day`, in cents (refunds of customers who had not bought are left out,
    as load()'s join leaves them out)."""
    total = np.zeros(len(buyers))
    rows = refunds[refunds[:, 1] <= day.toordinal()]
    where, known = _positions(buyers, rows[:, 0])
    np.add.at(total, where[known], rows[known, 2])
    return total


def _positions(buyers: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `ids` is in the sorted `buyers`, and whether it is there at all."""
    if not len(buyers):
        return np.zeros(len(ids), dtype=np.int64), np.zeros(len(ids), dtype=bool)
    where = np.minimum(np.searchsorted(buyers, ids), len(buyers) - 1)
    return where, buyers[where] == ids


def _base(as_of: date, customer_id, days, first_ordinal, last_ordinal, cents, first_cents, refunds,
          open_complaints, low_ratings, records) -> CustomerBase:
    """A CustomerBase from its per-customer columns (float arrays, one entry per buyer)."""
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
