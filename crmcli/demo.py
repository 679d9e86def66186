"""`crm demo`: put the generated sample business into the database through the same
core functions that the commands use, so demo data passes the same checks as real data."""

from __future__ import annotations

import sqlite3
from datetime import date

from crmcli import customers, feedback, interactions, values


def fill(conn: sqlite3.Connection, *, count: int = 200, seed: int = 1, replace: bool = False,
         today: date | None = None) -> dict[str, int]:
    """Insert a generated business of `count` customers (call inside a transaction). replace=True deletes all data first."""
    from crmcli.demo_data import generate

    business = generate(customers=count, seed=seed, today=today or values.now().date())
    if replace:
        conn.execute("DELETE FROM customers")  # interactions, feedback and tags go with them (ON DELETE CASCADE)
    ids = [
        customers.add(conn, c["name"], email=c["email"], phone=c["phone"], company=c["company"], tags=c["tags"],
                       note=c["note"], since=c["since"])
        for c in business.customers
    ]
    for item in business.interactions:
        interactions.add(conn, ids[item["customer"]], item["type"], at=item["at"], amount=item["amount"],
                         by=item["by"], note=item["note"])
    for item in business.feedback:
        feedback.add(conn, ids[item["customer"]], item["type"], rating=item["rating"], category=item["category"],
                     by=item["by"], note=item["note"], at=item["at"], resolved_at=item["resolved_at"],
                     resolution_note=item["resolution_note"])
    return {"customers": len(ids), "interactions": len(business.interactions), "feedback": len(business.feedback)}

