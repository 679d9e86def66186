"""Interactions: every contact with a customer, purchases and refunds included."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from crmcli import db, sql, values
from crmcli.db import Connection
from crmcli.errors import Conflict, DatabaseUnusable, InvalidInput
from crmcli.migrations import INTERACTION_TYPES, SUMMARY_INTERACTION_TRIGGERS  # the types M001 allows; M008
from crmcli.postgres_schema import SUMMARY_ASIDE_SETTING

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


def overflow_problem(conn: Connection, path: object) -> str:
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
    conn: Connection,
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
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        (customer_id, kind, moment, cents, values.text(by, "by"), values.text(note, "note"),
         external_id, values.now().isoformat()),
    )
    new_id = cursor.fetchall()[0][0]  # all rows: the statement finishes here
    assert new_id is not None  # an INSERT that succeeded always sets it
    return new_id


def list_interactions(
    conn: Connection,
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
    chosen = "interactions"
    if limit and customer_id is None:
        # The newest `limit` of each type through interactions_type_at_customer (type, at, ...), then the
        # newest of those: a page of the latest reads a few index entries per type, never the table. (For one
        # customer, their own rows by interactions_customer_type_at are few; the plain query is best.)
        kinds = [params[where.index("i.type = ?")]] if type else list(INTERACTION_TYPES)
        others = [w for w in where if w != "i.type = ?"]
        other_params = [v for w, v in zip(where, params, strict=True) if w != "i.type = ?"]
        chosen = "(" + " UNION ALL ".join(
            f"""SELECT * FROM (SELECT * FROM interactions i WHERE i.type = '{kind}'
                {"AND " + " AND ".join(others) if others else ""}
                AND EXISTS (SELECT 1 FROM customers WHERE id = i.customer_id)
                ORDER BY i.at DESC, i.id DESC LIMIT ?) AS newest_{kind}"""
            for kind in kinds) + ")"
        params = [value for _ in kinds for value in (*other_params, limit)]
        where = []
    sql = f"""SELECT i.id, i.customer_id, c.name AS customer_name, i.type, i.at, i.amount_cents,
                     i.staff AS by, i.note
                FROM {chosen} i JOIN customers c ON c.id = i.customer_id
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


_UNDATED_SQL = f"""
SELECT id, customer_id, at FROM interactions
 WHERE type IN ('purchase', 'refund') AND julianday({sql.DAY}) IS NULL ORDER BY id LIMIT 1"""


def undated_purchase(conn: Connection) -> DatabaseUnusable:
    """The error for a purchase or refund whose day is no date, naming the first such row: another
    program wrote it (crm checks every date it stores), and the reports that count days cannot go on.
    A scan of the purchases: for the caller that has seen such a day, not to look for one."""
    row = conn.execute(_UNDATED_SQL).fetchone()
    which = f"interaction {row[0]} (customer {row[1]}) has at {row[2]!r}" if row else "a purchase has an at"
    return DatabaseUnusable(f"{which}, which is not a date (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS): another program "
                            "wrote it, as crm checks every date it stores. Correct or delete that row with the "
                            "program that wrote it (or sqlite3, psql), then run this again")


def set_aside_trigger(conn: Connection, name: str) -> str | None:
    """Drop one trigger in the caller's transaction; returns the SQL that makes it again exactly as the
    file had it (None when it is not there, or on a server, where nothing is dropped: DROP TRIGGER would
    lock the table against every reader until the commit). A rollback brings it back too."""
    if db.is_server(conn):
        return None
    row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (name,)).fetchone()
    if row is None:
        return None
    conn.execute(f'DROP TRIGGER "{name}"')
    return str(row[0])


class SummaryAside:
    """customer_summary's triggers (migrations.M008) set aside for a bulk change, inside the caller's
    transaction: a trigger that recomputes a customer per row costs a bulk import more than the insert
    itself, and, once the import has dropped the indexes, reads the whole table per row. Say which
    customers the change touches (touch, touch_ids: before rows are deleted, after they are added),
    then restore(): their rows are recomputed with one aggregate and the triggers made again exactly as
    the file had them. A rollback brings the triggers back too, so the file is never left without them."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.triggers: list[str] = []
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS summary_touched (id INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.summary_touched")
        if db.is_server(conn):
            # On a server the triggers stay (dropping them would lock the table against every reader until
            # the commit); a setting of this transaction alone tells them to stand aside (postgres_schema).
            conn.execute(f"SET LOCAL {SUMMARY_ASIDE_SETTING} = 'on'")
            return
        # Made again in the order of their names, as before.
        self.triggers = [trigger for name in sorted(SUMMARY_INTERACTION_TRIGGERS)
                         if (trigger := set_aside_trigger(conn, name)) is not None]

    def touch(self, condition: str, params: Sequence[Any] = ()) -> None:
        """The customers of the interactions for which the SQL condition holds."""
        self.conn.execute("INSERT INTO temp.summary_touched (id) "
                          f"SELECT DISTINCT customer_id FROM interactions WHERE {condition} ON CONFLICT DO NOTHING",
                          params)

    def touch_ids(self, customer_ids: Iterable[int]) -> None:
        if db.is_server(self.conn):  # one statement, not a round trip per customer
            self.conn.execute("INSERT INTO temp.summary_touched (id) SELECT unnest(CAST(? AS BIGINT[])) "
                              "ON CONFLICT DO NOTHING", (sorted(set(customer_ids)),))
            return
        self.conn.executemany("INSERT INTO temp.summary_touched (id) VALUES (?) ON CONFLICT DO NOTHING",
                              ((customer_id,) for customer_id in customer_ids))

    def restore(self) -> int:
        """Recompute the touched customers and make the triggers again; returns how many were touched.
        (A customer deleted meanwhile lost its row to the trigger on customers, which stays in place.)"""
        touched = self.conn.execute("SELECT count(*) FROM temp.summary_touched").fetchone()[0]
        for statement in sql.refresh_summary(
                "customer_id IN (SELECT t.id FROM temp.summary_touched t JOIN customers c ON c.id = t.id)"):
            self.conn.execute(statement)
        self.conn.execute("DELETE FROM temp.summary_touched")
        if db.is_server(self.conn):
            self.conn.execute(f"SET LOCAL {SUMMARY_ASIDE_SETTING} = 'off'")
        for trigger in self.triggers:
            self.conn.execute(trigger)
        return touched
