"""A file's first line: the delimiter, then the column names, checked against the kind of import.

Hostile headers (a million cells, NUL characters of a UTF-16 file) are refused
before they are parsed, and a refusal lists every problem at once, with the
columns the kind takes.
"""

from __future__ import annotations

import collections
import csv
import itertools
from typing import Any

from crmcli.errors import InvalidInput
from crmcli.transfer import csvfiles

CUSTOMER_KEYS = ("customer_id", "customer_external_id", "customer_email")

# The columns each importer reads (README, "Importing"), and which must be there.
COLUMNS = {
    "customers": ("id", "name", "email", "phone", "company", "tags", "note", "external_id", "since"),
    "interactions": (*CUSTOMER_KEYS, "customer_name", "type", "at", "amount", "by", "note", "external_id"),
    "feedback": (*CUSTOMER_KEYS, "customer_name", "type", "rating", "category", "by", "note", "at",
                 "resolved_at", "resolution_note", "external_id"),
}
REQUIRED = {"customers": ("name",), "interactions": ("type", "at"), "feedback": ("type", "at")}
# A rejects file adds this column; it is ignored, so a fixed rejects file can be imported as it is.
ERROR_COLUMN = "error"

# Hostile files: a header with this many columns is refused (every kind has ten or so).
MAX_HEADER_COLUMNS = 1000
MAX_LISTED_NAMES = 10


def open_reader(source_lines: csvfiles.Lines, kind: str, source: str, given_delimiter: str | None,
                ) -> tuple[Any, list[str], str]:
    """(csv reader over the whole file, the checked header, the delimiter); the reader is past the header."""
    lines = iter(source_lines)
    header_line = next(lines, None)
    if header_line is None:
        raise InvalidInput("file", source, "is empty; the first line must name the columns")
    if "\x00" in header_line:
        raise InvalidInput("file", source, "line 1 (the header) contains NUL characters: this is not a CSV text "
                           "file, or it is UTF-16 without a byte-order mark; save it as 'CSV UTF-8' and try again")
    delimiter = csvfiles.delimiter(given_delimiter, header_line)
    if header_line.count(delimiter) >= MAX_HEADER_COLUMNS:
        # Checked before the line is parsed: a header of a million cells is refused at once.
        raise InvalidInput("file", source, f"line 1 (the header) has {header_line.count(delimiter) + 1} columns; "
                           f"a {kind} file has at most {len(COLUMNS[kind]) + 1}. The {kind} columns are: "
                           + ", ".join(COLUMNS[kind]))
    source_lines.delimiter = delimiter
    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter, strict=True)
    header = read_header(reader, kind, source)
    source_lines.header = header
    return reader, header, delimiter


def read_header(reader: Any, kind: str, source: str) -> list[str]:
    """The column names, lower case; every problem with them refused at once, naming the kind's columns."""
    try:
        raw = next(reader)
    except csv.Error as exc:
        raise InvalidInput("file", source, f"line 1: is not valid CSV: {exc}") from None
    header = [name.strip().lower() for name in raw]
    known = COLUMNS[kind]
    problems = []
    unknown = [name for name in header if name not in known and name not in (ERROR_COLUMN, "")]
    if unknown:
        problems.append("unknown column " + _some(unknown))
    if "" in header:
        problems.append(f"column {header.index('') + 1} has no name")
    counts = collections.Counter(header)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        problems.append("repeated column " + _some(repeated))
    missing = [name for name in REQUIRED[kind] if name not in header]
    if missing:
        problems.append("missing column " + ", ".join(repr(n) for n in missing))
    if kind != "customers" and not any(key in header for key in CUSTOMER_KEYS):
        problems.append("no column names the customer: give customer_id, customer_external_id or customer_email")
    if problems:
        raise InvalidInput(
            "file", source,
            f"line 1 (the header): {'; '.join(problems)}. The {kind} columns are: {', '.join(known)}",
        )
    return header


def _some(names: list[str]) -> str:
    """'a', 'b' ... and N more: a header of thousands of columns gives a message of one line."""
    shown = ", ".join(repr(name[:40] + ("..." if len(name) > 40 else "")) for name in names[:MAX_LISTED_NAMES])
    return shown + (f" and {len(names) - MAX_LISTED_NAMES} more" if len(names) > MAX_LISTED_NAMES else "")
