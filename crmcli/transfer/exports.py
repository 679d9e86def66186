"""Exporting customers, interactions and feedback as CSV, TSV or JSON Lines (CSV and JSON Lines import back).

An export is the import's mirror: the columns are the import columns, so an
export imported into an empty database gives the same data back
(tests/transfer/test_export.py proves it). Rows stream from the database to the file,
through the one renderer (output.py), so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from crmcli import db, values
from crmcli.db import Connection
from crmcli.errors import CrmError, InvalidInput

KINDS = ("customers", "interactions", "feedback")
FORMATS = ("csv", "tsv", "jsonl")

COLUMNS = {
    "customers": ("id", "name", "email", "phone", "company", "tags", "note", "external_id", "since"),
    "interactions": ("customer_id", "type", "at", "amount", "by", "note", "external_id"),
    "feedback": ("customer_id", "type", "rating", "category", "by", "note", "at", "resolved_at",
                 "resolution_note", "external_id"),
}
NUMERIC = ("id", "customer_id", "amount", "rating")

_QUERIES = {
    "customers": """
        SELECT c.id, c.name, c.email, c.phone, c.company,
               (SELECT group_concat(tag, ';') FROM (SELECT tag FROM customer_tags t
                 WHERE t.customer_id = c.id ORDER BY tag) AS ordered) AS tags,
               c.note, c.external_id, c.since
          FROM customers c ORDER BY c.id""",
    "interactions": """
        SELECT customer_id, type, at, amount_cents, staff AS by, note, external_id
          FROM interactions ORDER BY id""",
    "feedback": """
        SELECT customer_id, type, rating, category, staff AS by, note, at, resolved_at, resolution_note, external_id
          FROM feedback ORDER BY id""",
}


def rows(conn: Connection, kind: str, *, fmt: str = "csv") -> Iterator[dict[str, Any]]:
    """The rows of one kind, oldest first, ready for output.render (call inside db.snapshot)."""
    if kind not in KINDS:
        raise InvalidInput("what", kind, "must be one of " + ", ".join((*KINDS, "all")))
    for record in conn.execute(_QUERIES[kind]):
        row = dict(record)
        if "amount_cents" in row:
            row["amount"] = values.cents_to_amount(row.pop("amount_cents"))
        if kind == "customers":
            row["tags"] = row["tags"].split(";") if row["tags"] else []
        if fmt in ("csv", "tsv"):
            row = {key: _csv_text(value) for key, value in row.items()}
        yield row


def _csv_text(value: Any) -> Any:
    if isinstance(value, list):
        value = ";".join(value)
    # output.csv_cell neutralises formulas, and gives text that itself starts like a neutralised cell one
    # more apostrophe; import takes one off again (transfer/csvcells.py has the rule).
    return value


def export(conn: Connection, what: str, *, fmt: str = "csv", output: Path | None = None) -> list[Path | None]:
    """Write one kind (or all three) to stdout, a file or a folder; returns what was written.

    All kinds are read in one snapshot, so the files agree with each other even
    while other processes write. Each file appears whole or not at all.
    """
    from crmcli import output as out

    if fmt not in FORMATS:
        raise InvalidInput("format", fmt, "must be csv, tsv or jsonl")
    kinds = KINDS if what == "all" else (what,)
    if what != "all" and what not in KINDS:
        raise InvalidInput("what", what, "must be one of " + ", ".join((*KINDS, "all")))
    targets = _targets(kinds, fmt, output, all_kinds=what == "all")
    with db.snapshot(conn):
        for kind, target in zip(kinds, targets, strict=True):
            out.render(rows(conn, kind, fmt=fmt), out.columns(*COLUMNS[kind], numeric=NUMERIC), fmt=fmt,
                       output=target)
    return targets


def _targets(kinds: tuple[str, ...], fmt: str, output: Path | None, *, all_kinds: bool) -> list[Path | None]:
    if output is None:
        if all_kinds:
            raise InvalidInput("output", "", "is required for `all`: give a folder, and customers, interactions "
                               f"and feedback .{fmt} are written into it")
        return [None]
    output = Path(output).expanduser()
    if all_kinds or output.is_dir():
        if output.exists() and not output.is_dir():
            raise InvalidInput("output", str(output), "is a file; `all` writes three files, so give a folder")
        try:
            db.make_private_folders(output)
        except OSError as exc:
            raise CrmError(f"output: cannot create folder {str(output)!r}: {exc.strerror}") from None
        return [output / f"{kind}.{fmt}" for kind in kinds]
    return [output]
