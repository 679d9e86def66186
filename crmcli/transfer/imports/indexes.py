"""Big changes to a table without a B-tree insert per row and index: its secondary indexes dropped,
the rows written (or deleted), the indexes rebuilt, all in the caller's transaction. A bulk import
and the undo of a big batch both do this."""

from __future__ import annotations

from crmcli import db
from crmcli.db import Connection

# Once this many rows change and they are at least a quarter of the table, the table's secondary
# indexes are dropped and rebuilt at the end, in the same transaction: one sort instead of a random
# B-tree insert per row and index.
BULK_INDEX_THRESHOLD = 2_000


def worth_rebuilding(rows_changed: int, table_rows: int) -> bool:
    """Rebuilding an index sorts the whole table; worth it when the change is a good part of it."""
    return rows_changed >= BULK_INDEX_THRESHOLD and rows_changed * 4 >= table_rows


def drop_secondary_indexes(conn: Connection, table: str, keep: tuple[str, ...] = ()) -> list[str]:
    """Drop a table's non-unique indexes (inside the caller's transaction); returns the SQL that
    rebuilds them exactly as the migrations made them. On a PostgreSQL server nothing is dropped: DROP
    INDEX would lock the table against every reader until the commit."""
    if db.is_server(conn):
        return []
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    rebuild = []
    for name, sql in rows:
        if name in keep or sql.lstrip().upper().startswith("CREATE UNIQUE"):
            continue
        conn.execute(f'DROP INDEX "{name}"')
        rebuild.append(sql)
    return rebuild
