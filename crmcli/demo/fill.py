"""`crm demo`: put the generated sample business into the database through the same
core functions that the commands use, so demo data passes the same checks as real data."""

from __future__ import annotations

from datetime import date

from crmcli import customers, db, feedback, followups, interactions, values
from crmcli.db import Connection


def fill(conn: Connection, *, count: int = 200, seed: int = 1, replace: bool = False,
         today: date | None = None) -> dict[str, int]:
    """Insert a generated business of `count` customers (call inside a transaction).

    replace=True deletes all data first.
    """
    from crmcli.demo.generator import generate

    business = generate(customers=count, seed=seed, today=today or values.now().date())
    if replace:
        _empty(conn)
    ids = [
        customers.add(conn, c["name"], email=c["email"], phone=c["phone"], company=c["company"], tags=c["tags"],
                       note=c["note"], since=c["since"])
        for c in business.customers
    ]
    for item in business.interactions:
        interactions.add(conn, ids[item["customer"]], item["type"], at=item["at"], amount=item["amount"],
                         by=item["by"], note=item["note"])
    for item in business.feedback:
        feedback.add(conn, ids[item["customer"]], item["type"], rating=item["rating"], category=item["category"],
                     by=item["by"], note=item["note"], at=item["at"], resolved_at=item["resolved_at"],
                     resolution_note=item["resolution_note"])
    for item in business.followups:
        followups.add(conn, ids[item["customer"]], item["due"], by=item["by"], note=item["note"],
                      created_at=item["created_at"], done_at=item["done_at"], done_note=item["done_note"],
                      allow_past=True)
    targets = _set_targets(conn, today or values.now().date())
    return {"customers": len(ids), "interactions": len(business.interactions), "feedback": len(business.feedback),
            "followups": len(business.followups), "targets": targets}


# What `demo --force` empties: the shop's data, its summaries, targets and history (stored fits and the
# import log stay, as they would after deleting every customer by hand).
_REPLACED = ("customers", "customer_tags", "interactions", "feedback", "followups", "customer_summary",
             "targets", "customer_history")


def _empty(conn: Connection) -> None:
    """Delete all the shop's data, history included: a replaced database starts again from id 1, as a new one does."""
    if db.is_server(conn):
        # PostgreSQL's id sequences stay where they were after a DELETE (SQLite's next id is the largest + 1);
        # TRUNCATE ... RESTART IDENTITY starts them again, and is undone with the transaction if the demo fails.
        conn.execute(f"TRUNCATE {', '.join(_REPLACED)} RESTART IDENTITY")
        return
    conn.execute("DELETE FROM customers")  # interactions, feedback, follow-ups, tags and summaries go with them
    conn.execute("DELETE FROM targets")
    conn.execute("DELETE FROM customer_history")


def _set_targets(conn: Connection, today: date) -> int:
    """Monthly targets a little above the typical month of the past year: some months meet them, some miss.

    Each is the median of the last 12 complete months, rounded to a number a person would pick
    (up for the 'at least' targets); a quarterly revenue target is three monthly ones.
    """
    import math
    import statistics

    from crmcli.reports import metrics, targets

    month = metrics.last_complete("month", today)
    months = [month]
    while len(months) < 12:
        months.append(months[-1].previous())
    measured = [metrics.period_metrics(conn, p, targets.TARGET_METRICS) for p in months]

    def median(name: str) -> float | None:
        found = [m[name] for m in measured if m[name] is not None]
        return float(statistics.median(found)) if found else None

    chosen = {}
    if (new := median("new_customers")) is not None and new > 0:
        chosen["new_customers"] = str(math.ceil(new))
    if (kept := median("retention_rate")) is not None and kept > 0:
        chosen["retention_rate"] = str(min(1.0, math.ceil(kept * 20) / 20))
    if (days := median("median_resolution_days")) is not None:
        chosen["median_resolution_days"] = str(max(0.5, round(days * 2) / 2))
    if (revenue := median("revenue")) is not None and revenue > 0:
        chosen["revenue"] = str(math.ceil(revenue / 100) * 100)
    for metric, value in chosen.items():
        targets.set_target(conn, metric, value, per="month")
    if "revenue" in chosen:
        targets.set_target(conn, "revenue", str(3 * int(chosen["revenue"])), per="quarter")
    return len(chosen) + ("revenue" in chosen)

