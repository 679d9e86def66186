"""Follow-ups: a dated promise to contact a customer, assigned to a staff member, open until done.

Also the morning agenda (`crm agenda`): follow-ups due, open complaints and best customers
gone quiet, in one list. Plain SQL and Python: no numpy.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from crmcli import sql, values
from crmcli.errors import Conflict, InvalidInput, NotFound

LIST_COLUMNS = (
    "id", "customer_id", "customer_name", "phone", "email", "due", "days_overdue", "by", "note",
    "created_at", "done_at", "done_note",
)
AGENDA_COLUMNS = ("section", "id", "customer_id", "name", "phone", "email", "by", "date", "days", "detail")
AGENDA_SECTIONS = ("followup", "complaint", "quiet")

# Best customers gone quiet: the top 20% of buyers by revenue, silent for more than
# QUIET_GAP_MULTIPLE times their own usual gap between purchase days and at least QUIET_MIN_DAYS.
QUIET_GAP_MULTIPLE = 2.0
QUIET_MIN_DAYS = 14
QUIET_DEFAULT_LIMIT = 10

_IN_DAYS = re.compile(r"^\+(\d{1,5})d?$")


def due_day(value: str | None, field: str = "due") -> date:
    """YYYY-MM-DD, today, tomorrow or +N (N days from today)."""
    text = (value or "").strip().lower()
    if not text:
        raise InvalidInput(field, value, "is required; give YYYY-MM-DD, today, tomorrow or +N (days from today)")
    today = values.now().date()
    if text == "tomorrow":
        return today + timedelta(days=1)
    match = _IN_DAYS.match(text)
    if match:
        return today + timedelta(days=int(match.group(1)))
    try:
        day = values.day(value, field)
    except InvalidInput:
        raise InvalidInput(field, value, "is not a date; use YYYY-MM-DD, today, tomorrow or +N "
                                         "(days from today)") from None
    assert day is not None  # the text is not empty
    return day


def _staff_key(name: str | None) -> str | None:
    return values.fold(name.strip()) if name and name.strip() else None


def add(
    conn: sqlite3.Connection,
    customer_id: int,
    due: str | date,
    *,
    by: str | None = None,
    note: str | None = None,
    created_at: str | None = None,
    done_at: str | None = None,
    done_note: str | None = None,
    allow_past: bool = False,
) -> int:
    """Schedule a follow-up (call inside a transaction) and return its id.

    created_at, done_at and done_note are for history brought in (demo, import), with
    allow_past for a due date before today; new follow-ups are closed with done().
    """
    due_date = due if isinstance(due, date) else due_day(due)
    if not allow_past and due_date < values.now().date():
        raise InvalidInput("due", str(due), f"is in the past (today is {values.now().date()})")
    created = values.when(created_at, "created_at")
    finished = values.when(done_at, "done_at", default_now=False)
    if finished is not None and finished < created:
        raise InvalidInput("done_at", done_at, f"is before the follow-up was made ({created})")
    if finished is None and done_note is not None:
        raise InvalidInput("done_note", done_note, "is only kept for a follow-up that is done")
    cursor = conn.execute(
        """INSERT INTO followups (customer_id, due, staff, note, created_at, done_at, done_note)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        (customer_id, due_date.isoformat(), values.text(by, "by"), values.text(note, "note"), created, finished,
         values.text(done_note, "note")),
    )
    assert cursor.lastrowid is not None  # an INSERT's row
    return cursor.lastrowid


def done(conn: sqlite3.Connection, followup_id: int, *, note: str | None = None) -> dict[str, Any]:
    """Close an open follow-up now, with what came of it."""
    row = conn.execute("SELECT id, customer_id, done_at FROM followups WHERE id = ?", (followup_id,)).fetchone() \
        if abs(followup_id) <= 2**63 - 1 else None
    if row is None:
        raise NotFound(f"followup: no follow-up with id {followup_id}")
    if row["done_at"] is not None:
        raise Conflict(f"followup: follow-up {followup_id} was already done at {row['done_at']}")
    done_at = values.now().isoformat()
    conn.execute("UPDATE followups SET done_at = ?, done_note = ? WHERE id = ?",
                 (done_at, values.text(note, "note"), followup_id))
    return {"id": followup_id, "customer_id": row["customer_id"], "done_at": done_at}


def list_followups(
    conn: sqlite3.Connection,
    *,
    overdue: bool = False,
    due: str | None = None,
    by: str | None = None,
    customer_id: int | None = None,
    include_done: bool = False,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Follow-ups, soonest due first: open ones unless include_done.

    overdue: due before today. due: due on or before that day (`today` gives everything
    to do today, overdue included). by: assigned to that staff member (any case).
    """
    today = values.now().date()
    where: list[str] = []
    params: list[Any] = []
    if not include_done:
        where.append("f.done_at IS NULL")
    if overdue:
        where.append("f.due < ?")
        params.append(today.isoformat())
    if due is not None:
        where.append("f.due <= ?")
        params.append(due_day(due).isoformat())
    if customer_id is not None:
        where.append("f.customer_id = ?")
        params.append(customer_id)
    wanted = _staff_key(by)
    if by is not None and wanted is None:
        raise InvalidInput("by", by, "must not be empty")
    sql = f"""SELECT f.id, f.customer_id, c.name AS customer_name, c.phone, c.email, f.due, f.staff AS by,
                     f.note, f.created_at, f.done_at, f.done_note
                FROM followups f JOIN customers c ON c.id = f.customer_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY f.due, f.id"""
    rows = []
    for row in conn.execute(sql, params):
        if wanted is not None and _staff_key(row["by"]) != wanted:
            continue
        item = dict(row)
        item["days_overdue"] = None if item["done_at"] else (today - date.fromisoformat(item["due"])).days
        rows.append({key: item[key] for key in LIST_COLUMNS})
        if limit and len(rows) >= limit:
            break
    return rows


def open_for_customer(conn: sqlite3.Connection, customer_id: int) -> list[dict[str, Any]]:
    """The customer's open follow-ups, for `customer show`."""
    return [{key: row[key] for key in ("id", "due", "days_overdue", "by", "note")}
            for row in list_followups(conn, customer_id=customer_id)]


def main_staff(conn: sqlite3.Connection, customer_ids: Iterable[int]) -> dict[int, str]:
    """Per customer, the staff member with the most interactions with them (ties: first by name)."""
    ids = sorted(set(customer_ids))
    best: dict[int, tuple[int, str]] = {}
    for start in range(0, len(ids), 900):  # SQLite limits bound parameters
        chunk = ids[start:start + 900]
        marks = ",".join("?" * len(chunk))
        for row in conn.execute(
                f"""SELECT customer_id, staff, count(*) AS n FROM interactions
                     WHERE staff IS NOT NULL AND customer_id IN ({marks}) GROUP BY customer_id, staff""", chunk):
            current = best.get(row["customer_id"])
            key = (-row["n"], values.fold(row["staff"]), row["staff"])
            if current is None or key < (-current[0], values.fold(current[1]), current[1]):
                best[row["customer_id"]] = (row["n"], row["staff"])
    return {customer: staff for customer, (_, staff) in best.items()}


def schedule_for_churn(conn: sqlite3.Connection, rows: list[dict[str, Any]], *, as_of: date,
                       due: date | None = None) -> dict[str, list[int]]:
    """A follow-up due today for each churn-report row whose customer has no open one.

    Assigned to the staff member who served the customer most. Call inside a transaction.
    Returns {"created": follow-up ids, "skipped": customer ids that already had one}.
    """
    due = due or values.now().date()
    ids = [row["customer_id"] for row in rows]
    staff = main_staff(conn, ids)
    created, skipped = [], []
    for row in rows:
        customer_id = row["customer_id"]
        if conn.execute("SELECT 1 FROM followups WHERE customer_id = ? AND done_at IS NULL",
                        (customer_id,)).fetchone():
            skipped.append(customer_id)
            continue
        note = f"churn report {as_of}: value at risk {row['value_at_risk']:.2f}; {row['why']}"
        created.append(add(conn, customer_id, due, by=staff.get(customer_id), note=note))
    return {"created": created, "skipped": skipped}


# --- the agenda ----------------------------------------------------------------------------------

def quiet_customers(conn: sqlite3.Connection, *, today: date | None = None,
                    limit: int | None = QUIET_DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Best customers gone quiet, best first.

    Best: the top 20% (rounded up) of buying customers by revenue (purchases minus refunds).
    Quiet: bought on at least two days, and silent for more than twice their own usual gap
    between purchase days and at least 14 days. Left out: customers with an open follow-up,
    or one made since their last purchase (someone is already on it).
    """
    today = today or values.now().date()
    buyers = conn.execute(
        f"""SELECT c.id, c.name, c.phone, c.email, s.days, s.first_day, s.last_day, s.net_cents
             FROM customers c JOIN (
                  SELECT customer_id,
                         {sql.PURCHASE_DAYS} AS days,
                         {sql.FIRST_PURCHASE_DAY} AS first_day,
                         {sql.LAST_PURCHASE_DAY} AS last_day,
                         {sql.NET_REVENUE_CENTS} AS net_cents
                    FROM interactions WHERE type IN ('purchase', 'refund') AND at < :stop
                   GROUP BY customer_id) s ON s.customer_id = c.id
            WHERE s.days > 0
            ORDER BY s.net_cents DESC, c.id""", {"stop": today.isoformat() + "~"}).fetchall()
    best = buyers[: (len(buyers) + 4) // 5]
    quiet = []
    for row in best:
        if row["days"] < 2:
            continue
        first, last = date.fromisoformat(row["first_day"]), date.fromisoformat(row["last_day"])
        gap = (last - first).days / (row["days"] - 1)
        silent = (today - last).days
        if silent < QUIET_MIN_DAYS or silent <= QUIET_GAP_MULTIPLE * gap:
            continue
        if conn.execute("SELECT 1 FROM followups WHERE customer_id = ? AND (done_at IS NULL OR created_at >= ?)",
                        (row["id"], row["last_day"])).fetchone():
            continue
        revenue = values.cents_to_amount(row["net_cents"])
        quiet.append({
            "customer_id": row["id"], "name": row["name"], "phone": row["phone"], "email": row["email"],
            "last_purchase": row["last_day"], "days_silent": silent, "usual_gap_days": round(gap, 1),
            "revenue": revenue,
            "why": (f"usually buys every {gap:.0f} days ({row['days']} purchase days); silent for {silent} days "
                    f"({silent / gap:.1f}x the usual gap); spent {revenue:.2f} in all"),
        })
    staff = main_staff(conn, [q["customer_id"] for q in quiet])
    for q in quiet:
        q["by"] = staff.get(q["customer_id"])
    return quiet[:limit] if limit else quiet


def agenda(conn: sqlite3.Connection, *, by: str | None = None,
           quiet_limit: int | None = QUIET_DEFAULT_LIMIT) -> list[dict[str, Any]]:
    """Today's work, as one list of AGENDA_COLUMNS rows in three sections:

    followup: open follow-ups due today or overdue (most overdue first);
    complaint: open complaints, oldest first;
    quiet: best customers gone quiet (see quiet_customers), best first.
    With `by`, only what is assigned to that staff member: their follow-ups, complaints
    attributed to them, quiet customers they served most.
    """
    today = values.now().date()
    wanted = _staff_key(by)
    if by is not None and wanted is None:
        raise InvalidInput("by", by, "must not be empty")
    mine = (lambda name: True) if wanted is None else (lambda name: _staff_key(name) == wanted)  # noqa: E731
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
    quiet = quiet_customers(conn, today=today, limit=None)
    quiet = [q for q in quiet if mine(q["by"])]
    for q in quiet[:quiet_limit] if quiet_limit else quiet:
        rows.append({"section": "quiet", "id": None, "customer_id": q["customer_id"], "name": q["name"],
                     "phone": q["phone"], "email": q["email"], "by": q["by"], "date": q["last_purchase"],
                     "days": q["days_silent"], "detail": q["why"]})
    return rows
