"""Import batches: every import is one (import_batches), every row it adds carries its id, and
`crm import undo` removes what a batch added."""

from __future__ import annotations

from typing import Any

from crmcli import customers, interactions, values
from crmcli.db import Connection
from crmcli.errors import Conflict, NotFound
from crmcli.transfer.imports import indexes
from crmcli.transfer.imports.header import MAX_LISTED_NAMES

BATCH_COLUMNS = ("id", "kind", "source", "started_at", "rows_read", "added", "updated", "skipped", "rejected",
                 "customers_created", "undone_at")


def list_batches(conn: Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Import batches, newest first."""
    sql = f"SELECT {', '.join(BATCH_COLUMNS)} FROM import_batches ORDER BY id DESC" + (" LIMIT ?" if limit else "")
    return [dict(row) for row in conn.execute(sql, (limit,) if limit else ())]


# What others (people, other imports, merges) may have added to the customers a batch added, which
# deleting those customers would delete too: (what, plural, SQL giving (id or description, customer)).
# Imports never make follow-ups; a tag is the batch's when its latest addition is the customer's add.
_BATCH_CUSTOMERS = "SELECT id FROM customers WHERE batch_id = :b"
_ADDED_SINCE = (
    ("interaction", "interactions", f"""SELECT id, customer_id FROM interactions WHERE batch_id IS NOT :b
                                          AND customer_id IN ({_BATCH_CUSTOMERS}) ORDER BY id"""),
    ("feedback", "feedback", f"""SELECT id, customer_id FROM feedback WHERE batch_id IS NOT :b
                                   AND customer_id IN ({_BATCH_CUSTOMERS}) ORDER BY id"""),
    ("follow-up", "follow-ups", f"""SELECT id, customer_id FROM followups WHERE customer_id IN ({_BATCH_CUSTOMERS})
                                     ORDER BY id"""),
    ("tag added since", "tags added since",
     f"""SELECT t.tag || ' on customer ' || t.customer_id, t.customer_id FROM customer_tags t
          WHERE t.customer_id IN ({_BATCH_CUSTOMERS})
            AND coalesce((SELECT h.action FROM customer_history h WHERE h.customer_id = t.customer_id
                           AND h.field = 'tag' AND h.new_value = t.tag ORDER BY h.id DESC LIMIT 1), 'edit') <> 'add'
          ORDER BY t.customer_id, t.tag"""),
    ("customer merged in", "customers merged in",
     f"""SELECT h.new_value || ' into ' || h.customer_id, h.customer_id FROM customer_history h
          WHERE h.customer_id IN ({_BATCH_CUSTOMERS}) AND h.action = 'merge' AND h.field = 'merged_from'
          ORDER BY h.id"""),
)


def _added_since(conn: Connection, batch_id: int) -> str | None:
    """What others added to the batch's customers, in words with counts and ids; None if nothing."""
    parts, owners = [], set()
    for one, many, sql in _ADDED_SINCE:
        total = conn.execute(f"SELECT count(*) FROM ({sql}) AS added", {"b": batch_id}).fetchone()[0]
        if not total:
            continue
        shown = conn.execute(f"{sql} LIMIT {MAX_LISTED_NAMES}", {"b": batch_id}).fetchall()
        owners.update(conn.execute(f"SELECT DISTINCT customer_id FROM ({sql}) AS added LIMIT {MAX_LISTED_NAMES}",
                                   {"b": batch_id}).fetchall())
        listed = ", ".join(str(row[0]) for row in shown) + (f" and {total - len(shown)} more" if total > len(shown)
                                                            else "")
        label = ("id " if total == 1 else "ids ") if isinstance(shown[0][0], int) else ""
        parts.append(f"{total} {one if total == 1 else many} ({label}{listed})")
    if not parts:
        return None
    ids = sorted(customer for (customer,) in owners)
    whose = ", ".join(map(str, ids[:MAX_LISTED_NAMES])) + (" and more" if len(ids) > MAX_LISTED_NAMES else "")
    return (f"{'; '.join(parts)}, on {'customer' if len(ids) == 1 else 'customers'} {whose} (see `crm customer show "
            f"{ids[0]}` and `crm customer history {ids[0]}`)")


def undo(conn: Connection, batch_id: int, *, force: bool = False) -> dict[str, int]:
    """Remove what a batch added (call inside a transaction). Returns the counts removed.

    Customers the batch added go with their tags. If others (another import, a
    person, a merge) have since added interactions, feedback, follow-ups, tags or
    merged customers to such a customer, undo refuses, naming them, unless force,
    which deletes those too (and counts them). Customers the batch updated keep
    their new values: updates are not undone.
    """
    batch = conn.execute("SELECT * FROM import_batches WHERE id = ?", (batch_id,)).fetchone() \
        if 0 < batch_id <= customers.SQLITE_MAX_INTEGER else None
    if batch is None:
        raise NotFound(f"batch: no import batch {batch_id}; `crm import list` shows them")
    if batch["undone_at"] is not None:
        raise Conflict(f"batch: import batch {batch_id} was already undone at {batch['undone_at']}")
    others = _added_since(conn, batch_id)
    if others and not force:
        raise Conflict(f"batch: customers added by import batch {batch_id} now also have what it did not add: "
                       f"{others}; remove those (or undo the imports that added them) first, or add --force to "
                       "delete them as well")
    b = {"b": batch_id}
    removed = {"interactions": 0, "feedback": 0, "customers": 0, "followups": 0, "tags": 0}
    # customer_summary's per-row triggers set aside (see InteractionImporter): the customers whose
    # purchases go are recomputed once at the end; those deleted lose their row with them.
    summary = interactions.SummaryAside(conn)
    summary.touch("batch_id = ?", (batch_id,))
    # First what others added to the batch's customers (none without force), while the indexes are there.
    for table in ("interactions", "feedback"):
        removed[table] = conn.execute(f"DELETE FROM {table} WHERE batch_id IS NOT :b "
                                      f"AND customer_id IN ({_BATCH_CUSTOMERS})", b).rowcount
    removed["followups"] = conn.execute(f"DELETE FROM followups WHERE customer_id IN ({_BATCH_CUSTOMERS})",
                                        b).rowcount
    removed["tags"] = conn.execute(f"SELECT count(*) FROM customer_tags WHERE customer_id IN ({_BATCH_CUSTOMERS})",
                                   b).fetchone()[0]  # they go with their customers (and into their history)
    count = conn.execute("SELECT count(*) FROM interactions WHERE batch_id = ?", (batch_id,)).fetchone()[0]
    rows = conn.execute("SELECT coalesce(max(id), 0) FROM interactions").fetchone()[0]
    rebuild = []
    if indexes.worth_rebuilding(count, rows):
        rebuild = indexes.drop_secondary_indexes(conn, "interactions", keep=("interactions_batch",))
    removed["interactions"] += conn.execute("DELETE FROM interactions WHERE batch_id = ?", (batch_id,)).rowcount
    indexes.rebuild(conn, rebuild)
    removed["feedback"] += conn.execute("DELETE FROM feedback WHERE batch_id = ?", (batch_id,)).rowcount
    removed["customers"] = conn.execute("DELETE FROM customers WHERE batch_id = ?", (batch_id,)).rowcount
    summary.restore()
    removed["updated_not_undone"] = batch["updated"]
    conn.execute("UPDATE import_batches SET undone_at = ? WHERE id = ?", (values.now().isoformat(), batch_id))
    return removed
