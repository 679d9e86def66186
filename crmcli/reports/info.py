"""`crm info`: where the database is, its schema version, and how much it holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from crmcli import db
from crmcli.migrations import INTERACTION_TYPES


# Each an index lookup or a count over a small index: `crm info` is the yardstick the everyday commands
# are measured against (tests/benchmarks/bench_everyday.py), so it must not scan the purchases itself.
# Purchases from customer_summary (one row per buyer, kept on write); the first and last moment by type
# through interactions_type_at, a seek per type (min(at) over the whole table would read all of it).
def _moment(extreme: str) -> str:
    per_type = " UNION ALL ".join(f"SELECT {extreme}(at) AS at FROM interactions WHERE type = '{kind}'"
                                  for kind in INTERACTION_TYPES)
    return f"SELECT {extreme}(at) FROM ({per_type})"


_COUNTS = {
    "customers": "SELECT count(*) FROM customers",
    "interactions": "SELECT count(*) FROM interactions",
    "purchase_records": "SELECT coalesce(sum(purchase_records), 0) FROM customer_summary",
    "feedback": "SELECT count(*) FROM feedback",
    "open_complaints": "SELECT count(*) FROM feedback WHERE type = 'complaint' AND resolved_at IS NULL",
    "first_interaction": _moment("min"),
    "last_interaction": _moment("max"),
}


def database_info(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """The record `crm info` shows, read in one snapshot."""
    with db.snapshot(conn):
        counts = {key: conn.execute(query).fetchone()[0] for key, query in _COUNTS.items()}
        return {"path": str(path.resolve()), "schema_version": db.schema_version(conn),
                "size_bytes": path.stat().st_size, **counts}
