"""Feedback: complaints, compliments and suggestions. A complaint is open until resolved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crmcli import values
from crmcli.db import Connection
from crmcli.errors import Conflict, InvalidInput, NotFound
from crmcli.interactions import full_moment
from crmcli.migrations import FEEDBACK_TYPES  # the types M001's CHECK allows

LIST_COLUMNS = (
    "id", "customer_id", "customer_name", "type", "rating", "category", "by", "at",
    "resolved_at", "resolution_days", "note", "resolution_note",
)


def add(
    conn: Connection,
    customer_id: int,
    type: str,
    *,
    rating: int | str | None = None,
    category: str | None = None,
    by: str | None = None,
    note: str | None = None,
    at: str | None = None,
    external_id: str | None = None,
    resolved_at: str | None = None,
    resolution_note: str | None = None,
) -> int:
    """Record feedback (call inside a transaction) and return its id.

    resolved_at is for history being brought in (demo, import): a complaint
    resolved before it was recorded here. New complaints are resolved with resolve().
    """
    kind = values.choice(type, "type", FEEDBACK_TYPES)
    moment = values.when(at, "at")
    resolved = values.when(resolved_at, "resolved_at", default_now=False)
    if resolved is not None:
        if kind != "complaint":
            raise InvalidInput("resolved_at", resolved_at, f"only complaints are resolved, not a {kind}")
        if resolved < moment:
            raise InvalidInput("resolved_at", resolved_at, f"is before the complaint was made ({moment})")
    external_id = values.text(external_id, "external_id")
    if external_id is not None and conn.execute(
        "SELECT 1 FROM feedback WHERE external_id = ?", (external_id,)
    ).fetchone():
        raise Conflict(f"{external_id!r} is already recorded", field="external_id")
    cursor = conn.execute(
        """INSERT INTO feedback (customer_id, type, rating, category, staff, note, at, external_id,
                                 resolved_at, resolution_note, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        (customer_id, kind, values.rating(rating), _category(category), values.text(by, "by"),
         values.text(note, "note"), moment, external_id, resolved,
         values.text(resolution_note, "resolution_note"), values.now().isoformat()),
    )
    new_id = cursor.fetchall()[0][0]  # all rows: the statement finishes here
    assert new_id is not None  # an INSERT that succeeded always sets it
    return new_id


def _category(category: str | None) -> str | None:
    cleaned = values.text(category, "category")
    return cleaned.lower() if cleaned else None


def resolve(conn: Connection, feedback_id: int, *, note: str | None = None) -> dict[str, Any]:
    # An id beyond SQLite's integer range cannot exist (and would not fit in the query).
    row = conn.execute("SELECT id, type, at, resolved_at FROM feedback WHERE id = ?", (feedback_id,)).fetchone() \
        if abs(feedback_id) <= 2**63 - 1 else None
    if row is None:
        raise NotFound(f"feedback: no feedback with id {feedback_id}")
    if row["type"] != "complaint":
        raise InvalidInput("feedback", feedback_id, f"is a {row['type']}; only complaints are resolved")
    if row["resolved_at"] is not None:
        raise Conflict(f"feedback: complaint {feedback_id} was already resolved at {row['resolved_at']}")
    resolved_at = values.now().isoformat()
    conn.execute(
        "UPDATE feedback SET resolved_at = ?, resolution_note = ? WHERE id = ?",
        (resolved_at, values.text(note, "note"), feedback_id),
    )
    return {"id": feedback_id, "resolved_at": resolved_at, "resolution_days": _days_between(row["at"], resolved_at)}


def _days_between(start: str, end: str | None) -> float | None:
    if end is None:
        return None
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return round(seconds / 86400, 1)


def list_feedback(
    conn: Connection,
    *,
    open_only: bool = False,
    type: str | None = None,
    customer_id: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Feedback, newest first. open_only keeps unresolved complaints."""
    where: list[str] = []
    params: list[Any] = []
    if open_only:
        where.append("f.type = 'complaint' AND f.resolved_at IS NULL")
    if type:
        where.append("f.type = ?")
        params.append(values.choice(type, "type", FEEDBACK_TYPES))
    if customer_id is not None:
        where.append("f.customer_id = ?")
        params.append(customer_id)
    sql = f"""SELECT f.id, f.customer_id, c.name AS customer_name, f.type, f.rating, f.category,
                     f.staff AS by, f.at, f.resolved_at, f.note, f.resolution_note
                FROM feedback f JOIN customers c ON c.id = f.customer_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY f.at DESC, f.id DESC {"LIMIT ?" if limit else ""}"""
    if limit:
        params.append(limit)
    rows = []
    for row in conn.execute(sql, params):
        item = dict(row)
        item["resolution_days"] = _days_between(item["at"], item["resolved_at"])
        # One form per column, as interaction list: a day typed without a time is its midnight.
        item["at"], item["resolved_at"] = full_moment(item["at"]), full_moment(item["resolved_at"])
        rows.append({key: item[key] for key in LIST_COLUMNS})
    return rows
