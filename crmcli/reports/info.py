"""`crm info`: where the database is, its schema version, and how much it holds."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from crmcli import db

_COUNTS = {
    "customers": "SELECT count(*) FROM customers",
    "interactions": "SELECT count(*) FROM interactions",
    "purchase_records": "SELECT count(*) FROM interactions WHERE type = 'purchase'",
    "feedback": "SELECT count(*) FROM feedback",
    "open_complaints": "SELECT count(*) FROM feedback WHERE type = 'complaint' AND resolved_at IS NULL",
    "first_interaction": "SELECT min(at) FROM interactions",
    "last_interaction": "SELECT max(at) FROM interactions",
}


def database_info(conn: sqlite3.Connection, path: Path) -> dict[str, Any]:
    """The record `crm info` shows, read in one snapshot."""
    with db.snapshot(conn):
        counts = {key: conn.execute(query).fetchone()[0] for key, query in _COUNTS.items()}
        return {"path": str(path.resolve()), "schema_version": db.schema_version(conn),
                "size_bytes": path.stat().st_size, **counts}
