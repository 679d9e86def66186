"""Per staff member: what they did and how it went (`crm report staff`). Plain SQL and Python."""

from __future__ import annotations

from datetime import date
from typing import Any

from crmcli import sql, values
from crmcli.db import Connection
from crmcli.errors import InvalidInput
from crmcli.reports.metrics import median_days

STAFF_COLUMNS = (
    "staff", "interactions", "customers_served", "sales", "revenue", "complaints_handled", "complaints_resolved",
    "median_resolution_days", "average_rating", "compliments", "followups_done", "followups_overdue",
)


def _range(since: str | None, until: str | None) -> tuple[str, str, date | None, date | None]:
    start = values.day(since, "since")
    end = values.day(until, "until")
    if start and end and start > end:
        raise InvalidInput("since", since, f"is after --until ({until})")
    return (start.isoformat() if start else "", end.isoformat() + "~" if end else "~", start, end)


def staff_rows(conn: Connection, *, since: str | None = None, until: str | None = None) -> list[dict[str, Any]]:
    """Per staff member, what they did for customers from `since` to `until` (inclusive dates; default all).

    Events with no staff member recorded are not counted. followups_overdue is as of today,
    whatever the range: open follow-ups assigned to them that were due before today.
    """
    low, high, _, _ = _range(since, until)
    window = {"low": low, "high": high, "today": values.now().date().isoformat()}
    staff: dict[str, dict[str, Any]] = {}

    def entry(name: str) -> dict[str, Any]:
        return staff.setdefault(name, {"staff": name, "interactions": 0, "customers_served": 0, "sales": 0,
                                       "revenue_cents": 0, "complaints_handled": 0, "resolved": [],
                                       "average_rating": None, "compliments": 0, "followups_done": 0,
                                       "followups_overdue": 0})

    for row in conn.execute(
            f"""SELECT staff, count(*) AS interactions, count(DISTINCT customer_id) AS customers,
                      coalesce(sum(type = 'purchase'), 0) AS sales,
                      {sql.NET_REVENUE_CENTS} AS net_cents
                 FROM interactions WHERE staff IS NOT NULL AND at >= :low AND at < :high
                GROUP BY staff""", window):
        e = entry(row["staff"])
        e.update(interactions=row["interactions"], customers_served=row["customers"], sales=row["sales"],
                 revenue_cents=row["net_cents"])
    for row in conn.execute(
            """SELECT staff, coalesce(sum(type = 'complaint'), 0) AS complaints,
                      coalesce(sum(type = 'compliment'), 0) AS compliments, avg(rating) AS rating
                 FROM feedback WHERE staff IS NOT NULL AND at >= :low AND at < :high
                GROUP BY staff""", window):
        e = entry(row["staff"])
        e.update(complaints_handled=row["complaints"], compliments=row["compliments"],
                 average_rating=round(row["rating"], 2) if row["rating"] is not None else None)
    for row in conn.execute(
            """SELECT staff, at, resolved_at FROM feedback
                WHERE staff IS NOT NULL AND type = 'complaint' AND at >= :low AND at < :high
                  AND resolved_at IS NOT NULL AND resolved_at < :high""", window):
        entry(row["staff"])["resolved"].append((row["at"], row["resolved_at"]))
    for row in conn.execute(
            """SELECT staff, coalesce(sum(done_at >= :low AND done_at < :high), 0) AS done,
                      coalesce(sum(done_at IS NULL AND due < :today), 0) AS overdue
                 FROM followups WHERE staff IS NOT NULL GROUP BY staff""", window):
        if row["done"] or row["overdue"]:
            entry(row["staff"]).update(followups_done=row["done"], followups_overdue=row["overdue"])
    rows = []
    for name in sorted(staff, key=lambda n: (values.fold(n), n)):
        e = staff[name]
        resolved = e.pop("resolved")
        e["revenue"] = values.cents_to_amount(e.pop("revenue_cents"))
        e["complaints_resolved"] = len(resolved)
        e["median_resolution_days"] = median_days(resolved)
        rows.append({key: e[key] for key in STAFF_COLUMNS})
    return rows
