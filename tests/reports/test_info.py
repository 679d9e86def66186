"""`crm info`'s figures, read by index (reports/info.py): each the same as counting every row."""

from pathlib import Path

from crmcli import customers, db, interactions
from crmcli.reports.info import database_info


def where(database):
    """database_info's where: the file's Path, or the server's address as given."""
    return database if str(database).startswith("postgresql://") else Path(database)


def test_info_counts_as_a_scan_would(conn, isolated_database, backend):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        bob = customers.add(conn, "Bob")
        interactions.add(conn, ann, "call", at="2023-01-02T08:00")      # the first moment is not a purchase
        interactions.add(conn, ann, "purchase", at="2024-05-01", amount="3.00")
        interactions.add(conn, bob, "purchase", at="2024-05-01T10:00", amount="2.00")
        interactions.add(conn, bob, "refund", at="2024-05-03", amount="1.00")
        interactions.add(conn, bob, "visit", at="2024-06-30T17:45")      # nor the last
    if backend == "sqlite":  # a server enforces the foreign key whoever writes: no orphan can be made there
        # Another program's purchase for a customer that does not exist is no customer's purchase record.
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("INSERT INTO interactions (customer_id, type, at, amount_cents, created_at) "
                     "VALUES (99, 'purchase', '2024-01-01', 5, '2024-01-01')")
    info = database_info(conn, where(isolated_database))
    scan = conn.execute("SELECT count(*), min(at), max(at) FROM interactions").fetchone()
    assert (info["interactions"], info["first_interaction"], info["last_interaction"]) == tuple(scan)
    assert (info["first_interaction"], info["last_interaction"]) == ("2023-01-02T08:00:00", "2024-06-30T17:45:00")
    assert info["purchase_records"] == 2 and info["customers"] == 2


def test_info_of_an_empty_database(conn, isolated_database):
    info = database_info(conn, where(isolated_database))
    assert (info["purchase_records"], info["first_interaction"], info["last_interaction"]) == (0, None, None)
