"""The schema, and only here: numbered migrations, each a list of steps (SQL or a PythonStep) run in one
transaction with PRAGMA user_version, so a file is always at one whole version. Never edit one that shipped."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from crmcli import sql, values
from crmcli.db import APPLICATION_ID, schema_version, transaction
from crmcli.errors import DatabaseUnusable


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every migration newer than the file's schema, each atomically with its version number.

    A step is an SQL statement or a PythonStep (for work SQL cannot do, such as
    recomputing a key with a Python rule); both run inside the one transaction.
    """
    if schema_version(conn) >= latest_version():
        return
    with transaction(conn):
        # Re-read under the write lock: another process may have migrated meanwhile.
        current = schema_version(conn)
        _check_nothing_from_later_migrations(conn, current)
        for number, steps in enumerate(MIGRATIONS, start=1):
            if number <= current:
                continue
            for step in steps:
                if isinstance(step, PythonStep):
                    step.run(conn)
                else:
                    conn.execute(step)
            # user_version and application_id live in the file header, written
            # in the same transaction as the schema change they record.
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")


_CREATES = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)",
                      re.IGNORECASE)
_ADDS_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


def _check_nothing_from_later_migrations(conn: sqlite3.Connection, current: int) -> None:
    """Refuse a file whose user_version is lower than its schema (lowered by hand, or
    written by a tool that does not keep it): migrating it would fail half-way on
    "already exists", or worse, run a data step twice. Nothing is written before this."""
    found = []
    # What the schema the file claims already has (a later migration may drop and recreate it, a view say).
    expected = {created.group(2) for steps in MIGRATIONS[:current] for step in steps
                if isinstance(step, str) and (created := _CREATES.match(step))}
    for number, steps in enumerate(MIGRATIONS, start=1):
        if number <= current:
            continue
        for step in steps:
            if isinstance(step, PythonStep):
                continue  # changes data, creates nothing to look for
            if created := _CREATES.match(step):
                kind, name = created.group(1).lower(), created.group(2)
                if name in expected:
                    continue
                if conn.execute("SELECT 1 FROM sqlite_master WHERE type = ? AND name = ?", (kind, name)).fetchone():
                    found.append((number, f"{kind} {name}"))
            elif added := _ADDS_COLUMN.match(step):
                table, column = added.groups()
                if any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})")):
                    found.append((number, f"column {table}.{column}"))
    if found:
        path = conn.execute("PRAGMA database_list").fetchone()[2]
        listed = ", ".join(f"{what} (schema {number})" for number, what in found[:5])
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        raise DatabaseUnusable(
            f"{path} says it has schema {current} (PRAGMA user_version), but it already has {listed}{more}: "
            f"its version was changed by hand or by another program, so crm will not upgrade it. It was left as "
            f"it is; if it really has schema {max(number for number, _ in found)}, set that back with "
            f"sqlite3 {path} \"PRAGMA user_version = {max(number for number, _ in found)}\", or restore a backup"
        )


INTERACTION_TYPES = ("purchase", "refund", "call", "email", "meeting", "visit", "support", "other")
FEEDBACK_TYPES = ("complaint", "compliment", "suggestion")


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class PythonStep:
    """A migration step SQL cannot express. It runs in the migration's transaction and must
    not commit. Its repr is its name, so the list of migrations prints the same every run."""

    name: str
    run: Callable[[sqlite3.Connection], None] = field(repr=False)


MigrationStep = str | PythonStep

# Each migration is a list of steps, SQL statements or a PythonStep. Never edit one that
# has shipped: add the next.
M001_INITIAL = [
    """CREATE TABLE customers (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL CHECK (length(trim(name)) > 0),
        email       TEXT,
        email_key   TEXT UNIQUE,       -- NFC-casefolded email: unique and found without regard to case
        phone       TEXT,
        company     TEXT,
        note        TEXT,
        external_id TEXT UNIQUE,
        since       TEXT,              -- ISO date the relationship began
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        search_text TEXT NOT NULL DEFAULT ''  -- NFC-casefolded name, email, phone, company
    )""",
    """CREATE TABLE customer_tags (
        customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        tag         TEXT NOT NULL,
        PRIMARY KEY (customer_id, tag)
    ) WITHOUT ROWID""",
    "CREATE INDEX customer_tags_tag ON customer_tags (tag)",
    f"""CREATE TABLE interactions (
        id           INTEGER PRIMARY KEY,
        customer_id  INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        type         TEXT NOT NULL CHECK (type IN ({_sql_list(INTERACTION_TYPES)})),
        at           TEXT NOT NULL,      -- ISO 8601 date or date-time, local time
        amount_cents INTEGER CHECK (amount_cents IS NULL OR amount_cents >= 0),
        staff        TEXT,
        note         TEXT,
        external_id  TEXT UNIQUE,
        created_at   TEXT NOT NULL
    )""",
    # Covers the per-customer purchase aggregates of the reports (no table lookups, no sort)
    # and a customer's timeline.
    "CREATE INDEX interactions_customer_type_at ON interactions (customer_id, type, at, amount_cents)",
    "CREATE INDEX interactions_type_at ON interactions (type, at)",
    f"""CREATE TABLE feedback (
        id              INTEGER PRIMARY KEY,
        customer_id     INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        type            TEXT NOT NULL CHECK (type IN ({_sql_list(FEEDBACK_TYPES)})),
        rating          INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
        category        TEXT,
        staff           TEXT,
        note            TEXT,
        at              TEXT NOT NULL,
        resolved_at     TEXT,
        resolution_note TEXT,
        external_id     TEXT UNIQUE,
        created_at      TEXT NOT NULL
    )""",
    "CREATE INDEX feedback_customer_at ON feedback (customer_id, at)",
    "CREATE INDEX feedback_type_resolved ON feedback (type, resolved_at)",
    # Views for people who query the file with the sqlite3 shell or Datasette.
    """CREATE VIEW customer_stats AS
    SELECT c.id AS customer_id,
           c.name,
           c.email,
           coalesce(p.purchases, 0) AS purchases,
           coalesce(p.purchase_days, 0) AS purchase_days,
           round((coalesce(p.purchase_cents, 0) - coalesce(p.refund_cents, 0)) / 100.0, 2) AS revenue,
           p.first_purchase,
           p.last_purchase,
           (SELECT count(*) FROM feedback f
             WHERE f.customer_id = c.id AND f.type = 'complaint' AND f.resolved_at IS NULL) AS open_complaints
      FROM customers c
      LEFT JOIN (
        SELECT customer_id,
               sum(type = 'purchase') AS purchases,
               count(DISTINCT CASE WHEN type = 'purchase' THEN substr(at, 1, 10) END) AS purchase_days,
               sum(CASE WHEN type = 'purchase' THEN amount_cents ELSE 0 END) AS purchase_cents,
               sum(CASE WHEN type = 'refund' THEN amount_cents ELSE 0 END) AS refund_cents,
               min(CASE WHEN type = 'purchase' THEN substr(at, 1, 10) END) AS first_purchase,
               max(CASE WHEN type = 'purchase' THEN substr(at, 1, 10) END) AS last_purchase
          FROM interactions
         WHERE type IN ('purchase', 'refund')
         GROUP BY customer_id
      ) p ON p.customer_id = c.id""",
    """CREATE VIEW open_complaints AS
    SELECT f.id, f.customer_id, c.name, f.at, f.category, f.rating, f.staff, f.note,
           CAST(julianday('now', 'localtime') - julianday(f.at) AS INTEGER) AS days_open
      FROM feedback f JOIN customers c ON c.id = f.customer_id
     WHERE f.type = 'complaint' AND f.resolved_at IS NULL""",
]

# Imports: each import is a batch, and every row it added carries the batch's id, so
# `crm import undo BATCH` can remove exactly that. batch_id has no REFERENCES clause:
# batches are never deleted (undo marks them), and a foreign-key check per row would
# cost bulk imports about a fifth of their speed.
M002_IMPORT_BATCHES = [
    """CREATE TABLE import_batches (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('customers', 'interactions', 'feedback')),
        source      TEXT NOT NULL,      -- the file as given on the command line; '-' is stdin
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        rows_read   INTEGER NOT NULL DEFAULT 0,
        added       INTEGER NOT NULL DEFAULT 0,
        updated     INTEGER NOT NULL DEFAULT 0,
        skipped     INTEGER NOT NULL DEFAULT 0,
        rejected    INTEGER NOT NULL DEFAULT 0,
        customers_created INTEGER NOT NULL DEFAULT 0,  -- by --create-missing
        undone_at   TEXT
    )""",
    "ALTER TABLE customers ADD COLUMN batch_id INTEGER",
    "ALTER TABLE interactions ADD COLUMN batch_id INTEGER",
    "ALTER TABLE feedback ADD COLUMN batch_id INTEGER",
    "CREATE INDEX customers_batch ON customers (batch_id) WHERE batch_id IS NOT NULL",
    "CREATE INDEX interactions_batch ON interactions (batch_id) WHERE batch_id IS NOT NULL",
    "CREATE INDEX feedback_batch ON feedback (batch_id) WHERE batch_id IS NOT NULL",
]

# Running the business: targets per period, and follow-ups (a dated promise to contact a customer).
# A target's number is in `value` (counts, rates as 0-1, days) or, for money, in `amount_cents`.
M003_TARGETS_FOLLOWUPS = [
    """CREATE TABLE targets (
        metric       TEXT NOT NULL,      -- a `report summary` metric, e.g. revenue, retention_rate
        per          TEXT NOT NULL CHECK (per IN ('month', 'quarter', 'year')),
        value        REAL,
        amount_cents INTEGER,
        set_at       TEXT NOT NULL,
        PRIMARY KEY (metric, per),
        CHECK ((value IS NULL) <> (amount_cents IS NULL))
    )""",
    """CREATE TABLE followups (
        id          INTEGER PRIMARY KEY,
        customer_id INTEGER NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        due         TEXT NOT NULL,       -- ISO date
        staff       TEXT,
        note        TEXT,
        created_at  TEXT NOT NULL,
        done_at     TEXT,                -- NULL while open
        done_note   TEXT
    )""",
    "CREATE INDEX followups_open_due ON followups (due) WHERE done_at IS NULL",
    "CREATE INDEX followups_customer ON followups (customer_id, done_at)",
]

# History: every change to a customer, one row per field, written by triggers in the
# same transaction as the change, so no code path (a command, an import, a merge, or
# another program editing the file) can change a customer without leaving a record.
# Triggers use SQLite's own clock where the row carries no time; a user-defined SQL
# function would break the file for the sqlite3 shell and Datasette.
HISTORY_FIELDS = ("name", "email", "phone", "company", "note", "external_id", "since")
_CLOCK = "strftime('%Y-%m-%dT%H:%M:%S', 'now', 'localtime')"


def _fields(row: str) -> str:
    """SELECT 'name' AS field, old.name AS value UNION ALL ... for the trigger bodies."""
    return " UNION ALL ".join(f"SELECT '{f}' AS field, {row}.{f} AS value" for f in HISTORY_FIELDS)


def _changed_fields() -> str:
    return " UNION ALL ".join(
        f"SELECT '{f}' AS field, old.{f} AS old_value, new.{f} AS new_value" for f in HISTORY_FIELDS
    )


M004_HISTORY = [
    """CREATE TABLE customer_history (
        id          INTEGER PRIMARY KEY,
        customer_id INTEGER NOT NULL,    -- no REFERENCES: the history outlives a deleted customer
        at          TEXT NOT NULL,
        action      TEXT NOT NULL CHECK (action IN ('add', 'edit', 'delete', 'merge', 'forget')),
        field       TEXT,                -- name, email, ..., tag; NULL for a merge or forget marker
        old_value   TEXT,
        new_value   TEXT
    )""",
    "CREATE INDEX customer_history_customer ON customer_history (customer_id, id)",
    f"""CREATE TRIGGER customer_history_add AFTER INSERT ON customers BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, new_value)
        SELECT new.id, new.created_at, 'add', field, value FROM ({_fields("new")}) WHERE value IS NOT NULL;
    END""",
    f"""CREATE TRIGGER customer_history_edit AFTER UPDATE ON customers BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, old_value, new_value)
        SELECT new.id,
               CASE WHEN new.updated_at IS NOT old.updated_at THEN new.updated_at ELSE {_CLOCK} END,
               'edit', field, old_value, new_value
          FROM ({_changed_fields()}) WHERE old_value IS NOT new_value;
    END""",
    f"""CREATE TRIGGER customer_history_delete AFTER DELETE ON customers BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, old_value)
        SELECT old.id, {_CLOCK}, 'delete', field, value FROM ({_fields("old")}) WHERE value IS NOT NULL;
    END""",
    # BEFORE: the tags are still there (they go with the customer, ON DELETE CASCADE).
    f"""CREATE TRIGGER customer_history_delete_tags BEFORE DELETE ON customers BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, old_value)
        SELECT old.id, {_CLOCK}, 'delete', 'tag', tag FROM customer_tags WHERE customer_id = old.id ORDER BY tag;
    END""",
    f"""CREATE TRIGGER customer_history_tag_added AFTER INSERT ON customer_tags BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, new_value)
        VALUES (new.customer_id, {_CLOCK}, 'edit', 'tag', new.tag);
    END""",
    # A tag removed because its customer is being deleted is part of that delete, not an edit.
    f"""CREATE TRIGGER customer_history_tag_removed AFTER DELETE ON customer_tags
        WHEN EXISTS (SELECT 1 FROM customers WHERE id = old.customer_id) BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, old_value)
        VALUES (old.customer_id, {_CLOCK}, 'edit', 'tag', old.tag);
    END""",
]



# Email keys by the rule of values.email_key (the domain per IDNA 2008, the local part exact
# but for A-Z case), replacing M001's casefolded ones, which made info@straße.de and
# info@strasse.de one person. The new rule is finer in the local part but not in the
# domain (IDNA makes info@xn--strae-oqa.de and info@straße.de one mailbox; the old rule
# did not), so two rows can now share a key. Then the oldest keeps it (REF and imports
# find that one) and each later one gets the key with " #ID" appended, which no email can
# produce: nothing is changed or lost, `crm customer duplicates` lists the pair (it compares
# emails by the same rule), and `crm customer merge` makes them one.
def _recompute_email_keys(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT id, email FROM customers WHERE email IS NOT NULL ORDER BY id").fetchall()
    taken: set[str] = set()
    keys = []
    for customer_id, email in rows:
        key = values.email_key(email)
        while key in taken:
            key += f" #{customer_id}"
        taken.add(key)
        keys.append((key, customer_id))
    # Cleared first: a row's new key may be another row's old one until both are set.
    # email_key is not a field the history records, so neither statement leaves history rows.
    conn.execute("UPDATE customers SET email_key = NULL WHERE email_key IS NOT NULL")
    conn.executemany("UPDATE customers SET email_key = ? WHERE id = ?", keys)


# Amounts: other programs are held to values.MAX_AMOUNT_CENTS too, so that every total fits
# in SQLite's 64-bit integers. A value that is not a whole number (REAL, text) is refused as
# well: sum() would turn the totals into floats or skip it. UPDATE OF amount_cents only: a
# merge or forget that moves or scrubs an old out-of-bound row must still work. NULL stays
# allowed (README, "Amounts": a purchase without an amount counts as 0).
_AMOUNT_OUT_OF_BOUNDS = (f"new.amount_cents IS NOT NULL AND (typeof(new.amount_cents) <> 'integer' "
                         f"OR new.amount_cents < 0 OR new.amount_cents > {values.MAX_AMOUNT_CENTS})")
_AMOUNT_REFUSED = (f"amount_cents must be a whole number of cents from 0 to {values.MAX_AMOUNT_CENTS} "
                   f"({values.cents_to_amount(values.MAX_AMOUNT_CENTS)}), the most crm records in one amount")

M005_EMAIL_KEYS_TAGS_AMOUNTS: list[MigrationStep] = [
    PythonStep("recompute email_key by values.email_key", _recompute_email_keys),
    # A tag renamed or moved by another program (M004 recorded only INSERT and DELETE):
    # recorded as M004 records tags, the old one removed and the new one added.
    f"""CREATE TRIGGER customer_history_tag_changed AFTER UPDATE ON customer_tags
        WHEN old.tag IS NOT new.tag OR old.customer_id IS NOT new.customer_id BEGIN
        INSERT INTO customer_history (customer_id, at, action, field, old_value)
        VALUES (old.customer_id, {_CLOCK}, 'edit', 'tag', old.tag);
        INSERT INTO customer_history (customer_id, at, action, field, new_value)
        VALUES (new.customer_id, {_CLOCK}, 'edit', 'tag', new.tag);
    END""",
    f"""CREATE TRIGGER interactions_amount_insert BEFORE INSERT ON interactions
        WHEN {_AMOUNT_OUT_OF_BOUNDS} BEGIN
        SELECT RAISE(ABORT, '{_AMOUNT_REFUSED}');
    END""",
    f"""CREATE TRIGGER interactions_amount_update BEFORE UPDATE OF amount_cents ON interactions
        WHEN {_AMOUNT_OUT_OF_BOUNDS} BEGIN
        SELECT RAISE(ABORT, '{_AMOUNT_REFUSED}');
    END""",
    # Rows beyond the bound from before this migration: found at once when a total overflows.
    f"""CREATE INDEX interactions_amount_out_of_bounds ON interactions (id)
        WHERE amount_cents > {values.MAX_AMOUNT_CENTS}""",
    # `purchases` means purchase days everywhere, as in the CLI (README, "Definitions"); the rows
    # recorded are `purchase_records`. purchase_days stays for queries written against M001's view.
    "DROP VIEW customer_stats",
    f"""CREATE VIEW customer_stats AS
    SELECT c.id AS customer_id,
           c.name,
           c.email,
           coalesce(p.purchase_days, 0) AS purchases,
           coalesce(p.purchase_days, 0) AS purchase_days,
           round(coalesce(p.net_cents, 0) / 100.0, 2) AS revenue,
           p.first_purchase,
           p.last_purchase,
           (SELECT count(*) FROM feedback f
             WHERE f.customer_id = c.id AND f.type = 'complaint' AND f.resolved_at IS NULL) AS open_complaints,
           coalesce(p.purchase_records, 0) AS purchase_records
      FROM customers c
      LEFT JOIN (
        SELECT customer_id,
               sum(type = 'purchase') AS purchase_records,
               {sql.PURCHASE_DAYS} AS purchase_days,
               {sql.NET_REVENUE_CENTS} AS net_cents,
               {sql.FIRST_PURCHASE_DAY} AS first_purchase,
               {sql.LAST_PURCHASE_DAY} AS last_purchase
          FROM interactions
         WHERE type IN ('purchase', 'refund')
         GROUP BY customer_id
      ) p ON p.customer_id = c.id""",
]


# Finding people as they type (crmcli/refs.py): keys by values.customer_keys, stored so that REF is an
# index lookup and --search a scan in SQLite, never Python per row. name_key: the folded name's words
# sorted ('an nguyen van'); phone_key: the digits reversed, so "ends with" is an index range;
# search_text (M001's column) now holds values.search_fold's form, accents dropped. A forgotten
# person's keys stay empty. No SQL can fold, and a trigger must not call a function of ours (the
# sqlite3 shell would fail), so when another program changes what the keys come from, a trigger
# clears them (NULL name_key: "not computed"); crm computes missing ones as it reads and stores
# them at its next write (refs.missing_keys, refs.refill).
def _fill_customer_keys(conn: sqlite3.Connection) -> None:
    forgotten = {row[0] for row in conn.execute(
        "SELECT customer_id FROM customer_history WHERE action = 'forget'")}
    conn.executemany("UPDATE customers SET name_key = ?, phone_key = ?, search_text = ? WHERE id = ?", (
        ("", None, "", customer_id) if customer_id in forgotten and name == "(forgotten)"
        else (*values.customer_keys(name, email, phone, company), customer_id)
        for customer_id, name, email, phone, company in conn.execute(
            "SELECT id, name, email, phone, company FROM customers").fetchall()))


M006_SEARCH_KEYS: list[MigrationStep] = [
    "ALTER TABLE customers ADD COLUMN name_key TEXT",
    "ALTER TABLE customers ADD COLUMN phone_key TEXT",
    PythonStep("fill name_key, phone_key and search_text by values.customer_keys", _fill_customer_keys),
    "CREATE INDEX customers_name_key ON customers (name_key)",  # also finds the rows whose keys are missing
    "CREATE INDEX customers_phone_key ON customers (phone_key)",
    """CREATE TRIGGER customers_keys_stale AFTER UPDATE OF name, email, phone, company ON customers BEGIN
        UPDATE customers SET name_key = NULL, phone_key = NULL, search_text = '' WHERE id = new.id;
    END""",
]

# Stored model fits (crmcli/analytics/stored.py has the reuse policy): the population parameters of a
# fit as of a day, what data it saw (as counts, so a later command can tell how much has changed since)
# and its diagnostics. One row per model and as-of day: a new fit of the same day replaces the old one.
# params is JSON; "population" rows hold the base's own figures (RFM quintile boundaries, the usual gap).
M007_MODEL_FITS: list[MigrationStep] = [
    """CREATE TABLE model_fits (
        id INTEGER PRIMARY KEY,
        model TEXT NOT NULL,
        as_of TEXT NOT NULL,
        params TEXT NOT NULL,
        customers INTEGER NOT NULL,
        repeat_customers INTEGER NOT NULL,
        purchase_days INTEGER NOT NULL,
        purchases INTEGER NOT NULL,
        last_purchase TEXT,
        max_interaction_id INTEGER NOT NULL,
        log_likelihood REAL,
        converged INTEGER NOT NULL CHECK (converged IN (0, 1)),
        message TEXT NOT NULL,
        iterations INTEGER NOT NULL DEFAULT 0,
        fitted_at TEXT NOT NULL,
        crm_version TEXT NOT NULL,
        UNIQUE (model, as_of)
    )""",
]

# Per-customer purchase figures kept on write (issue 14): what customer list, customer show, agenda and
# info read instead of aggregating every purchase. One row per customer with purchases or refunds,
# computed by sql.summary_of (the business definitions, written once) and kept right by triggers in the
# same transaction as every change to interactions, so edits by other programs (the sqlite3 shell) count
# too; the triggers call no function of crm's. Each recomputes the customer's row from the covering
# index (a customer's own rows, never the table). A customer's row goes with the customer; interactions
# deleted with their customer (ON DELETE CASCADE) recompute nothing. No REFERENCES: the delete trigger
# does that job whether or not the deleting program enforces foreign keys. Bulk imports, a big import's
# undo and merges set these triggers aside in their transaction and recompute the customers they touched
# with one aggregate (interactions.SummaryAside). The index orders the best buyers for the agenda.
SUMMARY_INTERACTION_TRIGGERS = ("customer_summary_insert", "customer_summary_delete", "customer_summary_update")
_MONEY = "IN ('purchase', 'refund')"


def _refresh(customer: str, also: str | None = None, columns: tuple[str, ...] = sql.SUMMARY_COLUMNS_M008) -> str:
    """The trigger statements that recompute one customer's row (none if the customer is gone, or
    when the condition `also` is false); columns: M008's, or the summary's since M010."""
    condition = " AND ".join([f"customer_id = {customer}", _exists(customer), *([also] if also else [])])
    return " ".join(f"{statement};" for statement in sql.refresh_summary(condition, columns=columns))


def _exists(customer: str) -> str:
    return f"EXISTS (SELECT 1 FROM customers WHERE id = {customer})"


# The triggers that recompute a customer's row, as M008 made them with its columns and M010 again with
# first_day_cents.
def _delete_trigger(columns: tuple[str, ...]) -> str:
    refresh = _refresh("old.customer_id", columns=columns)
    return f"""CREATE TRIGGER customer_summary_delete AFTER DELETE ON interactions
        WHEN old.type {_MONEY} AND {_exists("old.customer_id")} BEGIN {refresh} END"""


def _update_trigger(columns: tuple[str, ...]) -> str:
    head = "CREATE TRIGGER customer_summary_update AFTER UPDATE OF customer_id, type, at, amount_cents ON interactions"
    return f"""{head}
        WHEN old.type {_MONEY} OR new.type {_MONEY} BEGIN
        {_refresh("old.customer_id", columns=columns)}
        {_refresh("new.customer_id", also="new.customer_id IS NOT old.customer_id", columns=columns)}
    END"""


def _customer_id_trigger(columns: tuple[str, ...]) -> str:
    return f"""CREATE TRIGGER customer_summary_customer_id AFTER UPDATE OF id ON customers WHEN old.id <> new.id BEGIN
        DELETE FROM customer_summary WHERE customer_id = old.id; {_refresh("new.id", columns=columns)}
    END"""


# The view as M008 made it, and as it still is (the PostgreSQL schema makes the same one).
CUSTOMER_STATS_VIEW = """CREATE VIEW customer_stats AS
    SELECT c.id AS customer_id,
           c.name,
           c.email,
           coalesce(s.purchase_days, 0) AS purchases,
           coalesce(s.purchase_days, 0) AS purchase_days,
           round(coalesce(s.net_revenue_cents, 0) / 100.0, 2) AS revenue,
           s.first_purchase_day AS first_purchase,
           s.last_purchase_day AS last_purchase,
           (SELECT count(*) FROM feedback f
             WHERE f.customer_id = c.id AND f.type = 'complaint' AND f.resolved_at IS NULL) AS open_complaints,
           coalesce(s.purchase_records, 0) AS purchase_records
      FROM customers c LEFT JOIN customer_summary s ON s.customer_id = c.id"""

M008_CUSTOMER_SUMMARY: list[MigrationStep] = [
    """CREATE TABLE customer_summary (
        customer_id        INTEGER PRIMARY KEY,
        purchase_days      INTEGER NOT NULL,  -- calendar days with a purchase (README, "Definitions")
        purchase_records   INTEGER NOT NULL,  -- purchase rows
        net_revenue_cents  INTEGER NOT NULL,  -- purchases minus refunds
        purchase_cents     INTEGER NOT NULL,  -- purchases alone
        first_purchase_day TEXT,              -- YYYY-MM-DD; NULL with refunds only
        last_purchase_day  TEXT
    )""",
    f"INSERT INTO customer_summary ({', '.join(sql.SUMMARY_COLUMNS_M008)}) "
    f"{sql.summary_of('customer_id IN (SELECT id FROM customers)', columns=sql.SUMMARY_COLUMNS_M008)}",
    "CREATE INDEX customer_summary_best ON customer_summary (net_revenue_cents DESC, customer_id)",
    f"""CREATE TRIGGER customer_summary_insert AFTER INSERT ON interactions
        WHEN new.type {_MONEY} BEGIN {_refresh("new.customer_id")} END""",
    _delete_trigger(sql.SUMMARY_COLUMNS_M008),
    # Both customers when a row moves (a merge, or another program): the one it left and the one it joined.
    _update_trigger(sql.SUMMARY_COLUMNS_M008),
    """CREATE TRIGGER customer_summary_customer_delete AFTER DELETE ON customers BEGIN
        DELETE FROM customer_summary WHERE customer_id = old.id;
    END""",
    _customer_id_trigger(sql.SUMMARY_COLUMNS_M008),
    "DROP VIEW customer_stats",
    CUSTOMER_STATS_VIEW,
]

# The insert trigger adds the new row's share to its customer's row instead of recomputing the customer
# (M008's did: about 0.5 ms a row at 100,000 customers, and a cost growing with the customer's own
# history, for every program that inserts rows one by one). The share is sql.summary_of of the new row
# alone, so the rules stay written once: sums add, first and last day are the least and greatest, and
# the purchase day counts when no other purchase of that customer is on that day (an index range on
# interactions_customer_type_at, checked by the day rule itself).
def _same_day_purchase() -> str:
    return (f"EXISTS (SELECT 1 FROM interactions o WHERE o.customer_id = new.customer_id AND o.type = 'purchase' "
            f"AND o.id <> new.id AND o.at >= r.first_purchase_day AND o.at < r.first_purchase_day || char(1114111) "
            f"AND {sql.day_of('o.at')} = r.first_purchase_day)")


def _extreme(function: str, column: str) -> str:
    return f"{column} = coalesce({function}({column}, excluded.{column}), {column}, excluded.{column})"


def _insert_trigger(columns: tuple[str, ...], first_day: str = "") -> str:
    """M009's insert trigger, for `columns`; first_day: the SET of first_day_cents (M010), if a column."""
    also = ", r.first_day_cents" if first_day else ""
    return f"""CREATE TRIGGER customer_summary_insert AFTER INSERT ON interactions
        WHEN new.type {_MONEY} AND {_exists("new.customer_id")} BEGIN
        INSERT INTO customer_summary ({', '.join(columns)})
        SELECT r.customer_id, r.purchase_days AND NOT {_same_day_purchase()}, r.purchase_records,
               r.net_revenue_cents, r.purchase_cents, r.first_purchase_day, r.last_purchase_day{also}
          FROM ({sql.summary_of("id = new.id", named=True, columns=columns)}) r WHERE 1
        ON CONFLICT (customer_id) DO UPDATE SET
           {", ".join(f"{c} = {c} + excluded.{c}" for c in sql.SUMMARY_COLUMNS_M008[1:5])},{first_day}
           {_extreme("min", "first_purchase_day")}, {_extreme("max", "last_purchase_day")};
    END"""


M009_SUMMARY_INSERT_ADDS: list[MigrationStep] = [
    "DROP TRIGGER customer_summary_insert",
    _insert_trigger(sql.SUMMARY_COLUMNS_M008),
]

# The purchases of each customer's first purchase day (sql.first_day_cents), which the models' mean
# repeat spend leaves out: with it, a report reads every figure of a customer from this table (one row)
# instead of scanning their purchases (analytics/data.load; about 2 s of a report at 100,000 customers).
# The triggers that recompute a customer are made again with the column; the insert trigger keeps
# M009's rule (it adds the new row's share): a purchase on an earlier day than the first starts the
# sum again, one on the first day adds to it, a later one or a refund leaves it. The SET reads the old
# row's first_purchase_day (SQLite evaluates every SET expression against the row before the update).
_FIRST_DAY_SHARE = """
           first_day_cents = CASE WHEN excluded.first_purchase_day IS NULL THEN first_day_cents
                                  WHEN first_purchase_day IS NULL OR excluded.first_purchase_day < first_purchase_day
                                  THEN excluded.first_day_cents
                                  WHEN excluded.first_purchase_day = first_purchase_day
                                  THEN first_day_cents + excluded.first_day_cents
                                  ELSE first_day_cents END,"""

M010_SUMMARY_FIRST_DAY: list[MigrationStep] = [
    # cents of purchases on the first purchase day; 0 for a customer with refunds only
    "ALTER TABLE customer_summary ADD COLUMN first_day_cents INTEGER NOT NULL DEFAULT 0",
    f"UPDATE customer_summary SET first_day_cents = {sql.first_day_cents('customer_summary')} "
    "WHERE first_purchase_day IS NOT NULL",
    *(f"DROP TRIGGER {name}" for name in (*SUMMARY_INTERACTION_TRIGGERS, "customer_summary_customer_id")),
    _insert_trigger(sql.SUMMARY_COLUMNS, _FIRST_DAY_SHARE),
    _delete_trigger(sql.SUMMARY_COLUMNS),
    _update_trigger(sql.SUMMARY_COLUMNS),
    _customer_id_trigger(sql.SUMMARY_COLUMNS),
]

# interactions_type_at (type, at) becomes (type, at, customer_id, amount_cents), covering who bought and for
# how much: `report summary` reads each period's purchases and refunds by date, and with (type, at) alone
# every one of them was a lookup in the table (2.8 us a row: 0.2 s a month at 100,000 customers, twice a
# period, and again for the purchase days after the earliest period end). The same leading columns, so
# every query that used it still does; a new name, so that a file whose user_version was lowered by hand
# shows it has schema 11.
M011_TYPE_AT_COVERS_CUSTOMER: list[MigrationStep] = [
    "DROP INDEX interactions_type_at",
    "CREATE INDEX interactions_type_at_customer ON interactions (type, at, customer_id, amount_cents)",
]

MIGRATIONS: list[Sequence[MigrationStep]] = [
    M001_INITIAL, M002_IMPORT_BATCHES, M003_TARGETS_FOLLOWUPS, M004_HISTORY, M005_EMAIL_KEYS_TAGS_AMOUNTS,
    M006_SEARCH_KEYS, M007_MODEL_FITS, M008_CUSTOMER_SUMMARY,
    M009_SUMMARY_INSERT_ADDS, M010_SUMMARY_FIRST_DAY, M011_TYPE_AT_COVERS_CUSTOMER,
]


def latest_version() -> int:
    return len(MIGRATIONS)
