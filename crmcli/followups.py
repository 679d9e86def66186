"""Follow-ups: a dated promise to contact a customer, assigned to a staff member, open until done.

Also the morning agenda (`crm agenda`): follow-ups due, open complaints and best customers
gone quiet, in one list. Plain SQL and Python: no numpy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from crmcli import values
from crmcli.db import Connection
from crmcli.errors import Conflict, InvalidInput, NotFound

LIST_COLUMNS = (
    "id", "customer_id", "customer_name", "phone", "email", "due", "days_overdue", "by", "note",
    "created_at", "done_at", "done_note",
)

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


def staff_key(name: str | None) -> str | None:
    return values.fold(name.strip()) if name and name.strip() else None


def add(
    conn: Connection,
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
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        (customer_id, due_date.isoformat(), values.text(by, "by"), values.text(note, "note"), created, finished,
         values.text(done_note, "note")),
    )
    return cursor.fetchall()[0][0]  # all rows: the statement finishes here


def done(conn: Connection, followup_id: int, *, note: str | None = None) -> dict[str, Any]:
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
    conn: Connection,
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
    wanted = staff_key(by)
    if by is not None and wanted is None:
        raise InvalidInput("by", by, "must not be empty")
    sql = f"""SELECT f.id, f.customer_id, c.name AS customer_name, c.phone, c.email, f.due, f.staff AS by,
                     f.note, f.created_at, f.done_at, f.done_note
                FROM followups f JOIN customers c ON c.id = f.customer_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY f.due, f.id"""
    rows = []
    for row in conn.execute(sql, params):
        if wanted is not None and staff_key(row["by"]) != wanted:
            continue
        item = dict(row)
        item["days_overdue"] = None if item["done_at"] else (today - date.fromisoformat(item["due"])).days
        rows.append({key: item[key] for key in LIST_COLUMNS})
        if limit and len(rows) >= limit:
            break
    return rows


def open_for_customer(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """The customer's open follow-ups, for `customer show`."""
    return [{key: row[key] for key in ("id", "due", "days_overdue", "by", "note")}
            for row in list_followups(conn, customer_id=customer_id)]


def main_staff(conn: Connection, customer_ids: Iterable[int]) -> dict[int, str]:
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


def schedule_for_churn(conn: Connection, rows: list[dict[str, Any]], *, as_of: date,
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
        # With too little history for a model there is no value at risk (analytics/history.py): the why alone.
        risk = "" if row["value_at_risk"] is None else f"value at risk {row['value_at_risk']:.2f}; "
        note = f"churn report {as_of}: {risk}{row['why']}"
        created.append(add(conn, customer_id, due, by=staff.get(customer_id), note=note))
    return {"created": created, "skipped": skipped}
