"""Big changes to a table without a B-tree insert per row and index: its secondary indexes dropped,
the rows written (or deleted), the indexes rebuilt, all in the caller's transaction. A bulk import
and the undo of a big batch both do this."""

from __future__ import annotations

import os

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


def rebuild(conn: Connection, statements: list[str]) -> None:
    """Run drop_secondary_indexes()'s CREATE INDEX statements, each index's sort on every CPU.

    SQLite sorts an index's keys in one thread unless PRAGMA threads allows helpers (it merges their
    runs itself): with two, the two interaction indexes of 1.7 million rows took 2.3 s instead of 3.2 s,
    for 4 MB more at the peak (each helper sorts its own share). The setting is the connection's, so it
    is put back after.
    """
    if not statements:
        return
    before = conn.execute("PRAGMA threads").fetchone()[0]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    conn.execute(f"PRAGMA threads = {cpus}")
    try:
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.execute(f"PRAGMA threads = {int(before)}")

