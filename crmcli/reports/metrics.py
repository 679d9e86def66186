"""The business by the customer: the per-period metrics of `crm report summary` and the targets.

Everything here is plain SQL and Python over the stored events; numpy and scipy are
loaded only for `customers_lost`, which needs the churn model
(crmcli.analytics.summary). Definitions (README, "Summary metrics"):

- a period is a calendar month, quarter or year; the last one shown is the one holding
  the as-of date and counts data up to that date only (it is *incomplete* unless the
  as-of date is its last day);
- new_customers: customers whose first purchase ever falls in the period;
- active_customers: customers with at least one purchase in the period;
- customers_lost: customers the churn model calls lost (P(alive) < 0.5, exactly as
  `crm report churn --as-of DAY` computes it) at the period's last day who were not
  lost at the previous period's last day;
- retention_rate: of the customers active in the previous period, the share active again;
- repeat_purchase_rate: of the period's active customers, the share who bought on a day
  other than their first purchase day;
- revenue: purchases minus refunds dated in the period;
- top20_revenue_share: the share of the period's revenue that came from the top 20%
  (rounded up) of its active customers, ranked by what each spent in the period;
- complaints_opened, complaints_resolved: complaints made / resolved in the period;
- median_resolution_days: the median time to resolve the complaints resolved in the period;
- compliments_per_complaint: compliments / complaints made in the period;
- average_rating: the mean rating of all feedback given in the period.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from crmcli import sql, values
from crmcli.db import Connection
from crmcli.errors import InvalidInput

PERIOD_KINDS = ("month", "quarter", "year")
MAX_PERIODS = 120


@dataclass(frozen=True)
class Metric:
    name: str
    label: str  # the table's row label
    unit: str  # count, share, money, days, ratio, rating: how a table shows it
    better: str  # "higher" or "lower": which way a target is met


METRICS = (
    Metric("new_customers", "new customers", "count", "higher"),
    Metric("active_customers", "active customers", "count", "higher"),
    Metric("customers_lost", "customers lost", "count", "lower"),
    Metric("retention_rate", "retention rate", "share", "higher"),
    Metric("repeat_purchase_rate", "repeat-purchase rate", "share", "higher"),
    Metric("revenue", "revenue", "money", "higher"),
    Metric("top20_revenue_share", "revenue from top 20%", "share", "higher"),
    Metric("complaints_opened", "complaints opened", "count", "lower"),
    Metric("complaints_resolved", "complaints resolved", "count", "higher"),
    Metric("median_resolution_days", "median days to resolve", "days", "lower"),
    Metric("compliments_per_complaint", "compliments per complaint", "ratio", "higher"),
    Metric("average_rating", "average rating", "rating", "higher"),
)
METRIC_BY_NAME = {m.name: m for m in METRICS}

# The tidy layout of `report summary` in csv/json/jsonl: one row per period and metric.
SUMMARY_COLUMNS = ("period", "period_start", "period_end", "complete", "metric", "value", "target", "target_met")



# --- periods -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    kind: str
    start: date
    end: date  # the calendar end
    last_day: date  # the last day counted: `end`, or the as-of date in the current period

    @property
    def label(self) -> str:
        if self.kind == "year":
            return f"{self.start.year}"
        if self.kind == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def complete(self) -> bool:
        return self.last_day >= self.end

    def previous(self) -> Period:
        before = self.start - timedelta(days=1)
        start, end = calendar_period(self.kind, before)
        return Period(self.kind, start, end, end)


def check_kind(kind: str, field: str = "period") -> str:
    return values.choice(kind, field, PERIOD_KINDS)


def calendar_period(kind: str, day: date) -> tuple[date, date]:
    """The first and last day of the month, quarter or year holding `day`."""
    if kind == "year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    months = 3 if kind == "quarter" else 1
    first_month = (day.month - 1) // months * months + 1
    start = date(day.year, first_month, 1)
    after = first_month + months
    next_start = date(day.year + 1, 1, 1) if after > 12 else date(day.year, after, 1)
    return start, next_start - timedelta(days=1)


def periods(kind: str, count: int, as_of: date) -> list[Period]:
    """The `count` periods up to the one holding `as_of`, oldest first."""
    kind = check_kind(kind)
    if not 1 <= count <= MAX_PERIODS:
        raise InvalidInput("periods", count, f"must be from 1 to {MAX_PERIODS}")
    start, end = calendar_period(kind, as_of)
    current = Period(kind, start, end, min(end, as_of))
    result = [current]
    while len(result) < count:
        result.append(result[-1].previous())
    return result[::-1]


def last_complete(kind: str, as_of: date) -> Period:
    """The latest period that ended on or before `as_of`."""
    start, end = calendar_period(check_kind(kind), as_of)
    current = Period(kind, start, end, min(end, as_of))
    return current if current.complete else current.previous()


# --- the metrics ---------------------------------------------------------------------------------

# Each buyer's first purchase day, from customer_summary (kept by triggers with every write, sql.py) rather
# than an aggregate over every purchase, which took 78 s of `report summary` at 100,000 customers.
_FIRST_PURCHASE = """SELECT customer_id, first_purchase_day AS first_day
                       FROM customer_summary WHERE first_purchase_day IS NOT NULL"""


def _window(p: Period) -> dict[str, str]:
    # Stored moments are 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS'; every one on the last day sorts below 'DAY~'.
    return {"start": p.start.isoformat(), "last": p.last_day.isoformat(), "stop": p.last_day.isoformat() + "~"}


def _one(conn: Connection, sql: str, params: dict[str, Any]) -> Any:
    return conn.execute(sql, params).fetchone()[0]


def _days(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() / 86400


def median_days(pairs: list[tuple[str, str]]) -> float | None:
    durations = [_days(start, end) for start, end in pairs]
    return round(statistics.median(durations), 1) if durations else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


_FROM_PURCHASES = {"active_customers", "repeat_purchase_rate", "revenue", "top20_revenue_share"}
# Who bought in the period, what they spent, and whether again after their first purchase day (their last
# purchase day in the period is after it): one pass over the period's purchases and refunds, read from the
# (type, at, customer_id, amount_cents) index alone (migrations.M011), for four of the metrics, and one
# summary lookup per customer, not per purchase (4.3 s -> 2.9 s for a month of a 1,000,000-customer shop).
_PERIOD_MONEY = f"""
SELECT p.net_cents, p.bought, p.last_day > s.first_purchase_day AS again
  FROM (SELECT customer_id, {sql.NET_REVENUE_CENTS} AS net_cents, max(type = 'purchase') AS bought,
               {sql.LAST_PURCHASE_DAY} AS last_day
          FROM interactions WHERE type IN ('purchase', 'refund') AND at >= :start AND at < :stop
         GROUP BY customer_id) p
  LEFT JOIN customer_summary s ON s.customer_id = p.customer_id"""
# The previous period's buyers (the same index), and which of them bought again in this one (a range of
# each one's own purchases).
_RETENTION = """
SELECT count(*), coalesce(sum(EXISTS (
       SELECT 1 FROM interactions i WHERE i.customer_id = a.customer_id AND i.type = 'purchase'
          AND i.at >= :start AND i.at < :stop)), 0)
  FROM (SELECT DISTINCT customer_id FROM interactions
         WHERE type = 'purchase' AND at >= :prev_start AND at < :prev_stop) a"""


def period_metrics(conn: Connection, p: Period, names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The metrics of one period, except customers_lost (see summary()). `names` limits which."""
    wanted = set(names or METRIC_BY_NAME) - {"customers_lost"}
    w = _window(p)
    result: dict[str, Any] = {}
    per_customer = conn.execute(_PERIOD_MONEY, w).fetchall() if wanted & _FROM_PURCHASES else []
    active = sum(row["bought"] for row in per_customer)
    if "new_customers" in wanted:
        result["new_customers"] = _one(
            conn, f"SELECT count(*) FROM ({_FIRST_PURCHASE}) AS firsts WHERE first_day BETWEEN :start AND :last", w)
    if "active_customers" in wanted:
        result["active_customers"] = active
    if "retention_rate" in wanted:
        prev = _window(p.previous())
        before, again = conn.execute(
            _RETENTION, {**w, "prev_start": prev["start"], "prev_stop": prev["stop"]}).fetchone()
        result["retention_rate"] = _share(again, before)
    if "repeat_purchase_rate" in wanted:
        result["repeat_purchase_rate"] = _share(sum(row["again"] or 0 for row in per_customer), active)
    if wanted & {"revenue", "top20_revenue_share"}:
        revenue_cents = sum(row["net_cents"] for row in per_customer)
        result["revenue"] = values.cents_to_amount(revenue_cents)
        spent = sorted((row["net_cents"] for row in per_customer if row["bought"]), reverse=True)
        top = spent[: (len(spent) + 4) // 5]  # the top 20%, rounded up
        result["top20_revenue_share"] = _share(sum(top), revenue_cents) if revenue_cents > 0 else None
    if wanted & {"complaints_opened", "compliments_per_complaint"}:
        opened, compliments = conn.execute(
            """SELECT coalesce(sum(type = 'complaint'), 0), coalesce(sum(type = 'compliment'), 0)
                 FROM feedback WHERE at >= :start AND at < :stop""", w).fetchone()
        result["complaints_opened"] = opened
        result["compliments_per_complaint"] = round(compliments / opened, 2) if opened else None
    if wanted & {"complaints_resolved", "median_resolution_days"}:
        resolved = conn.execute(
            """SELECT at, resolved_at FROM feedback
                WHERE type = 'complaint' AND resolved_at >= :start AND resolved_at < :stop""", w).fetchall()
        result["complaints_resolved"] = len(resolved)
        result["median_resolution_days"] = median_days([(r["at"], r["resolved_at"]) for r in resolved])
    if "average_rating" in wanted:
        average = _one(conn, """SELECT avg(rating) FROM feedback
                                 WHERE rating IS NOT NULL AND at >= :start AND at < :stop""", w)
        result["average_rating"] = round(average, 2) if average is not None else None
    return {name: result[name] for name in METRIC_BY_NAME if name in result}


def summary(conn: Connection, *, period: str = "month", count: int = 6, as_of: date | None = None,
            targets: dict[str, Any] | None = None, include_lost: bool = True,
            made: list[Any] | None = None) -> list[dict[str, Any]]:
    """The tidy summary: one row per period (oldest first) and metric, with the target beside the actual.

    `targets` maps metric -> target for this kind of period. target_met is None for the
    current, incomplete period and where there is no value to judge. The model fits made for
    customers_lost are appended to `made`, for the caller to store after its snapshot.
    """
    as_of = as_of or values.now().date()
    shown = periods(period, count, as_of)
    lost_counts: dict[Period, int] = {}
    if include_lost:
        from crmcli.analytics.summary import lost_by_day, newly_lost  # numpy and scipy: only here

        ends = sorted({p.previous().end for p in shown} | {p.last_day for p in shown})
        lost_at = lost_by_day(conn, ends, made=made)
        lost_counts = {p: newly_lost(lost_at[p.last_day], lost_at[p.previous().end]) for p in shown}
    targets = targets or {}
    rows = []
    for p in shown:
        measured = period_metrics(conn, p)
        if include_lost:
            measured["customers_lost"] = lost_counts[p]
        for metric in METRICS:
            if metric.name not in measured:
                continue
            target = targets.get(metric.name)
            rows.append({
                "period": p.label,
                "period_start": p.start.isoformat(),
                "period_end": p.last_day.isoformat(),
                "complete": p.complete,
                "metric": metric.name,
                "value": measured[metric.name],
                "target": target,
                "target_met": target_met(metric.name, measured[metric.name], target) if p.complete else None,
            })
    return rows


def target_met(metric: str, value: Any, target: Any) -> bool | None:
    """Whether `value` meets `target` (at least, or at most for metrics where lower is better)."""
    if value is None or target is None:
        return None
    if METRIC_BY_NAME[metric].better == "lower":
        return value <= target
    return value >= target
