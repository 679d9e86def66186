"""`crm agenda`: today's work in one list: follow-ups due, open complaints, best customers gone quiet."""

from __future__ import annotations

from datetime import date
from typing import Any

from crmcli import interactions, sql, values
from crmcli.db import Connection
from crmcli.errors import InvalidInput
from crmcli.followups import list_followups, main_staff, staff_key

AGENDA_COLUMNS = ("section", "id", "customer_id", "name", "phone", "email", "by", "date", "days", "detail")
AGENDA_SECTIONS = ("followup", "complaint", "quiet")

# Best customers gone quiet: the top 20% of buyers by revenue, silent for more than
# QUIET_GAP_MULTIPLE times their own usual gap between purchase days and at least QUIET_MIN_DAYS.
QUIET_GAP_MULTIPLE = 2.0
QUIET_MIN_DAYS = 14
QUIET_DEFAULT_LIMIT = 10


def quiet_customers(conn: Connection, *, today: date | None = None,
                    limit: int | None = QUIET_DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Best customers gone quiet, best first.

    Best: the top 20% (rounded up) of buying customers by revenue (purchases minus refunds).
    Quiet: bought on at least two days, and silent for more than twice their own usual gap
    between purchase days and at least 14 days. Left out: customers with an open follow-up,
    or one made since their last purchase (someone is already on it).

    Read from customer_summary (kept on write, migrations.M008) through its index by revenue: the
    best fifth, never every purchase. When purchases or refunds are dated after today (another
    program's, or a clock set back), the summary counts what today's agenda must not, so then the
    figures are totalled from the purchases up to today instead.
    """
    today = today or values.now().date()
    stop = today.isoformat() + "~"  # after every moment of today
    latest = conn.execute(  # two index seeks (an aggregate max ignores a type with no rows)
        "SELECT max(at) FROM (SELECT max(at) AS at FROM interactions WHERE type = 'purchase' "
        "UNION ALL SELECT max(at) FROM interactions WHERE type = 'refund') AS latest").fetchone()[0]
    if latest is None or latest < stop:
        buyers = """SELECT customer_id, purchase_days AS days, first_purchase_day AS first_day,
                           last_purchase_day AS last_day, net_revenue_cents AS net_cents
                      FROM customer_summary WHERE purchase_days > 0"""
    else:
        buyers = f"""SELECT * FROM (
                       SELECT customer_id, {sql.PURCHASE_DAYS} AS days, {sql.FIRST_PURCHASE_DAY} AS first_day,
                              {sql.LAST_PURCHASE_DAY} AS last_day, {sql.NET_REVENUE_CENTS} AS net_cents
                         FROM interactions WHERE type IN ('purchase', 'refund') AND at < :stop
                          AND customer_id IN (SELECT id FROM customers) GROUP BY customer_id) AS totals
                      WHERE days > 0"""
    # The best fifth in revenue order, read lazily (from the summary, straight down its index): with a
    # limit, reading stops at the limit-th quiet one.
    best = conn.execute(f"""SELECT * FROM ({buyers}) AS buyers ORDER BY net_cents DESC, customer_id
                             LIMIT ((SELECT count(*) FROM ({buyers}) AS counted) + 4) / 5""", {"stop": stop})
    quiet = []
    for row in best:
        if row["days"] < 2:
            continue
        try:
            first, last = date.fromisoformat(row["first_day"]), date.fromisoformat(row["last_day"])
        except ValueError:
            raise interactions.undated_purchase(conn) from None
        gap = (last - first).days / (row["days"] - 1)
        silent = (today - last).days
        if silent < QUIET_MIN_DAYS or silent <= QUIET_GAP_MULTIPLE * gap:
            continue
        if conn.execute("SELECT 1 FROM followups WHERE customer_id = ? AND (done_at IS NULL OR created_at >= ?)",
                        (row["customer_id"], row["last_day"])).fetchone():
            continue
        person = conn.execute("SELECT name, phone, email FROM customers WHERE id = ?",
                              (row["customer_id"],)).fetchone()
        revenue = values.cents_to_amount(row["net_cents"])
        quiet.append({
            "customer_id": row["customer_id"], "name": person["name"], "phone": person["phone"],
            "email": person["email"], "last_purchase": row["last_day"], "days_silent": silent,
            "usual_gap_days": round(gap, 1), "revenue": revenue,
            "why": (f"usually buys every {gap:.0f} days ({row['days']} purchase days); silent for {silent} days "
                    f"({silent / gap:.1f}x the usual gap); spent {revenue:.2f} in all"),
        })
        if limit and len(quiet) >= limit:
            break
    staff = main_staff(conn, [q["customer_id"] for q in quiet])
    for q in quiet:
        q["by"] = staff.get(q["customer_id"])
    return quiet


def agenda(conn: Connection, *, by: str | None = None,
           quiet_limit: int | None = QUIET_DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Today's work, as one list of AGENDA_COLUMNS rows in three sections:

    followup: open follow-ups due today or overdue (most overdue first);
    complaint: open complaints, oldest first;
    quiet: best customers gone quiet (see quiet_customers), best first.
    With `by`, only what is assigned to that staff member: their follow-ups, complaints
    attributed to them, quiet customers they served most.
    """
    today = values.now().date()
    wanted = staff_key(by)
    if by is not None and wanted is None:
        raise InvalidInput("by", by, "must not be empty")
    mine = (lambda name: True) if wanted is None else (lambda name: staff_key(name) == wanted)  # noqa: E731
    rows: list[dict[str, Any]] = []
    for f in list_followups(conn, due="today"):
        if mine(f["by"]):
            rows.append({"section": "followup", "id": f["id"], "customer_id": f["customer_id"],
                         "name": f["customer_name"], "phone": f["phone"], "email": f["email"], "by": f["by"],
                         "date": f["due"], "days": f["days_overdue"], "detail": f["note"]})
    for c in conn.execute(
            """SELECT f.id, f.customer_id, c.name, c.phone, c.email, f.staff, f.at, f.category, f.rating, f.note
                 FROM feedback f JOIN customers c ON c.id = f.customer_id
                WHERE f.type = 'complaint' AND f.resolved_at IS NULL ORDER BY f.at, f.id"""):
        if mine(c["staff"]):
            made = date.fromisoformat(c["at"][:10])
            detail = ": ".join(part for part in (c["category"], c["note"]) if part)
            if c["rating"] is not None:
                detail += f" (rated {c['rating']})"
            rows.append({"section": "complaint", "id": c["id"], "customer_id": c["customer_id"], "name": c["name"],
                         "phone": c["phone"], "email": c["email"], "by": c["staff"], "date": made.isoformat(),
                         "days": (today - made).days, "detail": detail or None})
    # Everyone quiet only when they are then chosen by staff; else the first quiet_limit, in SQL.
    quiet = quiet_customers(conn, today=today, limit=quiet_limit if wanted is None else None)
    quiet = [q for q in quiet if mine(q["by"])]
    for q in quiet[:quiet_limit] if quiet_limit else quiet:
        rows.append({"section": "quiet", "id": None, "customer_id": q["customer_id"], "name": q["name"],
                     "phone": q["phone"], "email": q["email"], "by": q["by"], "date": q["last_purchase"],
                     "days": q["days_silent"], "detail": q["why"]})
    return rows
