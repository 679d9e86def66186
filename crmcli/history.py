"""A customer's change history, and erasing a person (`crm customer forget`).

The history rows are written by triggers (migrations.M004_HISTORY) in the same transaction
as the change, one row per changed field; this module reads them, adds the merge
and forget markers that only the commands know about, and scrubs them when a person
is forgotten. Functions take a connection, raise CrmError and never print.
"""

from __future__ import annotations

from typing import Any

from crmcli import customers, refs, values
from crmcli.db import Connection
from crmcli.errors import Conflict, NotFound

COLUMNS = ("customer_id", "at", "action", "field", "old_value", "new_value")

FORGOTTEN_NAME = "(forgotten)"
# Every table `forget` changes (on a server, each is vacuumed after it).
ERASED_TABLES = ("customers", "customer_tags", "customer_history", "interactions", "feedback", "followups")

# The free text of a customer's records that `forget` erases. Amounts, dates, types,
# ratings, categories and staff names stay: the totals and reports stay right, and
# none of them says who the person was.
ERASED_TEXT = {
    "interactions": ("note",),
    "feedback": ("note", "resolution_note"),
    "followups": ("note", "done_note"),
}


def resolve(conn: Connection, ref: str) -> int:
    """A customer's id by REF, or the id of a deleted customer that only the history still knows."""
    try:
        return customers.resolve(conn, ref)
    except NotFound:
        ref = (ref or "").strip()
        # The length first: int() refuses more than 4,300 digits.
        number = int(ref) if ref.isascii() and ref.isdigit() and len(ref) <= 19 else None
        if number is not None and number <= customers.SQLITE_MAX_INTEGER and conn.execute(
                "SELECT 1 FROM customer_history WHERE customer_id = ? LIMIT 1", (number,)).fetchone():
            return number
        raise


def for_customer(conn: Connection, customer_id: int) -> list[dict[str, Any]]:
    """Every recorded change to the customer, oldest first."""
    return [dict(row) for row in conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM customer_history WHERE customer_id = ? ORDER BY id", (customer_id,))]


def record(conn: Connection, customer_id: int, action: str, field: str | None = None,
           old_value: str | None = None, new_value: str | None = None) -> None:
    conn.execute(
        "INSERT INTO customer_history (customer_id, at, action, field, old_value, new_value) VALUES (?, ?, ?, ?, ?, ?)",
        (customer_id, values.now().isoformat(), action, field, old_value, new_value),
    )


def last_id(conn: Connection) -> int:
    return conn.execute("SELECT coalesce(max(id), 0) FROM customer_history").fetchone()[0]


def mark_merge(conn: Connection, keep_id: int, duplicate_id: int, since: int) -> None:
    """Label the rows the triggers wrote during a merge (after history id `since`: DUP's
    delete, KEEP's filled fields and tags) as the merge they are, and link the two records."""
    conn.execute("UPDATE customer_history SET action = 'merge' WHERE customer_id IN (?, ?) AND id > ?",
                 (keep_id, duplicate_id, since))
    record(conn, duplicate_id, "merge", "merged_into", new_value=str(keep_id))
    record(conn, keep_id, "merge", "merged_from", new_value=str(duplicate_id))


def with_merged_records(conn: Connection, customer_id: int) -> list[int]:
    """The customer and every record ever merged into it (and into those), for `forget`."""
    found, pending = [], [customer_id]
    while pending:
        current = pending.pop()
        if current in found:
            continue
        found.append(current)
        pending.extend(int(row[0]) for row in conn.execute(
            "SELECT new_value FROM customer_history WHERE customer_id = ? AND field = 'merged_from'", (current,)))
    return found


def forget(conn: Connection, customer_id: int) -> dict[str, Any]:
    """Erase a person's personal data (call inside a transaction); keep amounts and dates.

    The customer row stays, renamed FORGOTTEN_NAME with every other personal field
    cleared, so their purchases still count in totals and models. Tags and the free
    text of their interactions, feedback and follow-ups are erased. Their history, and
    that of records merged into them, keeps its dates and actions but loses every value.
    Works for a deleted customer too (only the history is left to scrub).
    The database runs with secure_delete, so the old text is overwritten, not just unlinked;
    the caller truncates the write-ahead log after the commit (db.truncate_wal).
    """
    before = last_id(conn)
    exists = conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() is not None
    erased: dict[str, Any] = {"customer_id": customer_id, "customer": exists}
    if exists:
        conn.execute(
            """UPDATE customers SET name = ?, email = NULL, email_key = NULL, phone = NULL, company = NULL,
                      note = NULL, external_id = NULL, search_text = '', updated_at = ? WHERE id = ?""",
            (FORGOTTEN_NAME, values.now().isoformat(), customer_id),
        )
        refs.erase(conn, customer_id)  # the folded name and phone too (after M006's trigger has cleared them)
        erased["tags"] = conn.execute("DELETE FROM customer_tags WHERE customer_id = ?", (customer_id,)).rowcount
        for table, fields in ERASED_TEXT.items():
            # A column name list fixed in this module, never user input.
            cleared = " OR ".join(f"{f} IS NOT NULL" for f in fields)
            erased[table] = conn.execute(
                f"UPDATE {table} SET {', '.join(f'{f} = NULL' for f in fields)} WHERE customer_id = ? AND ({cleared})",
                (customer_id,),
            ).rowcount
    elif not conn.execute("SELECT 1 FROM customer_history WHERE customer_id = ? LIMIT 1", (customer_id,)).fetchone():
        raise NotFound(f"customer: no customer with id {customer_id}")
    elif (keep := refs.merged_into(conn, customer_id)) is not None:
        # The merge said both records are one person, whose details now live in KEEP
        # (its note even quotes this record's): erasing only this id would erase nothing.
        raise Conflict(f"customer: {customer_id} was merged into customer {keep}, where this person's data now "
                       f"is; forget {keep} instead (that also erases what was merged from {customer_id})")
    # The triggers have just recorded the erased values as an edit: drop those rows,
    # then keep only the shape (when, what kind of change, which field) of the rest.
    conn.execute("DELETE FROM customer_history WHERE id > ?", (before,))
    ids = with_merged_records(conn, customer_id)
    marks = ", ".join("?" * len(ids))
    erased["history"] = conn.execute(
        f"""UPDATE customer_history SET old_value = NULL, new_value = NULL
             WHERE customer_id IN ({marks}) AND field NOT IN ('merged_from', 'merged_into')
               AND (old_value IS NOT NULL OR new_value IS NOT NULL)""",
        ids,
    ).rowcount
    erased["merged_records"] = len(ids) - 1
    record(conn, customer_id, "forget")
    return erased
