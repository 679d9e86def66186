"""`crm info`: where the database is, its schema version, and how much it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmcli import db
from crmcli.db import Connection
from crmcli.migrations import INTERACTION_TYPES


# Each an index lookup or a count over a small index: `crm info` is the yardstick the everyday commands
# are measured against (tests/benchmarks/bench_everyday.py), so it must not scan the purchases itself.
# Purchases from customer_summary (one row per buyer, kept on write); the first and last moment by type
# through interactions_type_at_customer, a seek per type (min(at) over the whole table would read all of it).
def _moment(extreme: str) -> str:
    per_type = " UNION ALL ".join(f"SELECT {extreme}(at) AS at FROM interactions WHERE type = '{kind}'"
                                  for kind in INTERACTION_TYPES)
    return f"SELECT {extreme}(at) FROM ({per_type}) AS moments"


_COUNTS = {
    "customers": "SELECT count(*) FROM customers",
    "interactions": "SELECT count(*) FROM interactions",
    "purchase_records": "SELECT coalesce(sum(purchase_records), 0) FROM customer_summary",
    "feedback": "SELECT count(*) FROM feedback",
    "open_complaints": "SELECT count(*) FROM feedback WHERE type = 'complaint' AND resolved_at IS NULL",
    "first_interaction": _moment("min"),
    "last_interaction": _moment("max"),
}


def database_info(conn: Connection, where: Path | str) -> dict[str, Any]:
    """The record `crm info` shows, read in one snapshot. where: the file, or the server's address."""
    with db.snapshot(conn):
        counts = {key: conn.execute(query).fetchone()[0] for key, query in _COUNTS.items()}
        if isinstance(where, Path):
            return {"backend": "sqlite", "path": str(where.resolve()), "schema_version": db.schema_version(conn),
                    "size_bytes": where.stat().st_size, **counts}
        from crmcli import postgres

        server = conn.execute("SELECT current_database(), current_user, pg_database_size(current_database()), "
                              "current_setting('server_version')").fetchone()
        return {"backend": "postgresql", "server": postgres.shown(where), "database": server[0], "user": server[1],
                "server_version": server[3], "schema_version": db.schema_version(conn), "size_bytes": server[2],
                **counts}
