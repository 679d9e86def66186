"""Interactions: every contact with a customer, purchases and refunds included."""

from __future__ import annotations

import sqlite3
from typing import Any

from crmcli import values
from crmcli.errors import Conflict, InvalidInput
from crmcli.migrations import INTERACTION_TYPES  # the types M001's CHECK allows

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
    if cents is not None and cents > values.MAX_AMOUNT_CENTS:
        # values.amount_to_cents refuses these already; this holds callers that bring cents of their own.
        raise InvalidInput("amount", typed, f"is more than {values.cents_to_amount(values.MAX_AMOUNT_CENTS)}, "
                           "the most crm records in one amount")


# The literal bound, not a parameter: then SQLite answers from the partial index M005 made for it.
_OUT_OF_BOUNDS_SQL = f"SELECT id FROM interactions WHERE amount_cents > {values.MAX_AMOUNT_CENTS} ORDER BY id"
_IDS_LISTED = 20


def overflow_problem(conn: sqlite3.Connection, path: object) -> str:
    """What to say when SQLite's 64-bit sum of amounts overflowed ("integer overflow").

    crm refuses amounts over values.MAX_AMOUNT_CENTS, and migrations.M005's triggers refuse them from
    other programs, so such rows come from before that (another program, or a file edited
    with the triggers dropped). Names them and the sqlite3 commands that repair the file
    (crm has no command to edit or delete one interaction).
    """
    try:
        ids = [row[0] for row in conn.execute(_OUT_OF_BOUNDS_SQL)]
    except sqlite3.Error:
        ids = []
    bound = values.cents_to_amount(values.MAX_AMOUNT_CENTS)
    if not ids:
        return (f"the amounts in the database {path} add up to more than SQLite can count (integer overflow), "
                f"though none is over {bound}; nothing was changed")
    listed = ", ".join(map(str, ids[:_IDS_LISTED])) + (f" and {len(ids) - _IDS_LISTED} more"
                                                        if len(ids) > _IDS_LISTED else "")
    which = f"id IN ({', '.join(map(str, ids))})" if len(ids) <= _IDS_LISTED else \
        f"amount_cents > {values.MAX_AMOUNT_CENTS}"
    return (f"the amounts in the database {path} add up to more than SQLite can count (integer overflow): "
            f"interaction{'s' if len(ids) > 1 else ''} {listed} "
            f"{'have amounts' if len(ids) > 1 else 'has an amount'} over {bound}, the most crm records in one "
            f"amount (written by another program). Nothing was changed. Correct an amount with "
            f'sqlite3 {path} "UPDATE interactions SET amount_cents = CENTS WHERE id = ID" (the amount in cents), '
            f'or delete them with sqlite3 {path} "DELETE FROM interactions WHERE {which}"')


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
        raise Conflict(f"{external_id!r} is already recorded", field="external_id")
    cursor = conn.execute(
        """INSERT INTO interactions (customer_id, type, at, amount_cents, staff, note, external_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
        (customer_id, kind, moment, cents, values.text(by, "by"), values.text(note, "note"),
         external_id, values.now().isoformat()),
    )
    new_id = cursor.lastrowid
    assert new_id is not None  # an INSERT that succeeded always sets it
    return new_id


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
    where: list[str] = []
    params: list[Any] = []
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
        item["at"] = full_moment(item["at"])
        rows.append({key: item[key] for key in LIST_COLUMNS})
    return rows


def full_moment(at: str | None) -> str | None:
    """A stored `at` in the one form `interaction list` shows in every format: YYYY-MM-DDTHH:MM:SS.
    A date recorded without a time (`--at 2026-11-30`) is its midnight; fractions of a second are cut."""
    if at is None:
        return None
    return at + "T00:00:00" if len(at) == 10 else at[:19]
