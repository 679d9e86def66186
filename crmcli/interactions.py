"""Interactions: every contact with a customer, purchases and refunds included."""

from __future__ import annotations

import sqlite3
from typing import Any

from crmcli import values
from crmcli.db import INTERACTION_TYPES
from crmcli.errors import Conflict, InvalidInput

MONEY_TYPES = ("purchase", "refund")
LIST_COLUMNS = ("id", "customer_id", "customer_name", "type", "at", "amount", "by", "note")


def check_amount(kind: str, cents: int | None, typed: str | None) -> None:
    """Purchases and refunds need an amount; other interactions must not have one.

    The one copy of the rule: `crm interaction add` and the importer both call it.
    """
    if kind in MONEY_TYPES and cents is None:
        raise InvalidInput("amount", typed, f"is required for a {kind}")
    if kind not in MONEY_TYPES and cents is not None:
        raise InvalidInput("amount", typed, f"is only recorded for purchases and refunds, not for a {kind}")


def add(
    conn: sqlite3.Connection,
    customer_id: int,
    type: str,
    *,
    at: str | None = None,
    amount: str | None = None,
    by: str | None = None,
    note: str | None = None,
    external_id: str | None = None,
) -> int:
    """Record one interaction (call inside a transaction) and return its id."""
    kind = values.choice(type, "type", INTERACTION_TYPES)
    moment = values.when(at, "at")
    cents = values.amount_to_cents(amount)
    check_amount(kind, cents, amount)
    external_id = values.text(external_id, "external_id")
    if external_id is not None and conn.execute(
        "SELECT 1 FROM interactions WHERE external_id = ?", (external_id,)
    ).fetchone():
        raise Conflict(f"external_id: {external_id!r} is already recorded")
    cursor = conn.execute(
        """INSERT INTO interactions (customer_id, type, at, amount_cents, staff, note, external_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (customer_id, kind, moment, cents, values.text(by, "by"), values.text(note, "note"),
         external_id, values.now().isoformat()),
    )
    return cursor.lastrowid


def list_interactions(
    conn: sqlite3.Connection,
    *,
    customer_id: int | None = None,
    type: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Interactions, newest first. since/until are inclusive calendar dates."""
    where, params = [], []
    if customer_id is not None:
        where.append("i.customer_id = ?")
        params.append(customer_id)
    if type:
        where.append("i.type = ?")
        params.append(values.choice(type, "type", INTERACTION_TYPES))
    start = values.day(since, "since")
    end = values.day(until, "until")
    if start and end and start > end:
        raise InvalidInput("since", since, f"is after --until ({until})")
    if start:
        where.append("i.at >= ?")
        params.append(start.isoformat())
    if end:
        # 'YYYY-MM-DD~' sorts after every time on that day ('~' > 'T').
        where.append("i.at <= ?")
        params.append(end.isoformat() + "~")
    sql = f"""SELECT i.id, i.customer_id, c.name AS customer_name, i.type, i.at, i.amount_cents,
                     i.staff AS by, i.note
                FROM interactions i JOIN customers c ON c.id = i.customer_id
               {"WHERE " + " AND ".join(where) if where else ""}
               ORDER BY i.at DESC, i.id DESC {"LIMIT ?" if limit else ""}"""
    if limit:
        params.append(limit)
    rows = []
    for row in conn.execute(sql, params):
        item = dict(row)
        item["amount"] = values.cents_to_amount(item.pop("amount_cents"))
        rows.append({key: item[key] for key in LIST_COLUMNS})
    return rows
