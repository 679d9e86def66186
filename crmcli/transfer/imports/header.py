"""A file's first line: the delimiter, then the column names, checked against the kind of import.

Hostile headers (a million cells, NUL characters of a UTF-16 file) are refused
before they are parsed, and a refusal lists every problem at once, with the
columns the kind takes. --map renames the file's columns to crm's (and a column
mapped to nothing is left out); --ignore-extra leaves out the columns crm does
not know instead of refusing them. JSON Lines keys go through the same checks
(jsonl.py).
"""

from __future__ import annotations

import collections
import csv
import itertools
from dataclasses import dataclass, field
from typing import Any

from crmcli.errors import InvalidInput
from crmcli.transfer import csvfiles
from crmcli.transfer.imports.options import Options

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
_DEFAULT_OPTIONS = Options()


@dataclass
class Header:
    """A file's columns: as the file names them (lower case, trimmed: the rejects file's header),
    and as the importer reads them (crm's names after --map; None for a column left out)."""

    raw: list[str]
    names: list[str | None]
    ignored: list[str] = field(default_factory=list)  # the file's columns left out by --ignore-extra
    ignored_truncated: bool = False  # more were left out than a list keeps (JSON Lines: jsonl.MAX_KEYS_KEPT)


def open_reader(source_lines: csvfiles.Lines, kind: str, source: str, options: Options) -> tuple[Any, Header, str]:
    """(csv reader over the whole file, the checked header, the delimiter); the reader is past the header."""
    lines = iter(source_lines)
    header_line = next(lines, None)
    if header_line is None:
        raise InvalidInput("file", source, "is empty; the first line must name the columns")
    if "\x00" in header_line:
        raise InvalidInput("file", source, "line 1 (the header) contains NUL characters: this is not a CSV text "
                           "file, or it is UTF-16 without a byte-order mark; save it as 'CSV UTF-8' and try again")
    delimiter = csvfiles.delimiter(options.delimiter, header_line)
    if header_line.count(delimiter) >= MAX_HEADER_COLUMNS:
        # Checked before the line is parsed: a header of a million cells is refused at once.
        raise InvalidInput("file", source, f"line 1 (the header) has {header_line.count(delimiter) + 1} columns; "
                           f"a {kind} file has at most {len(COLUMNS[kind]) + 1}. The {kind} columns are: "
                           + ", ".join(COLUMNS[kind]))
    source_lines.delimiter = delimiter
    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter, strict=True)
    header = read_header(reader, kind, source, options)
    source_lines.header = header.raw
    return reader, header, delimiter


def read_header(reader: Any, kind: str, source: str, options: Options = _DEFAULT_OPTIONS) -> Header:
    """The column names, lower case; every problem with them refused at once, naming the kind's columns."""
    try:
        raw = next(reader)
    except csv.Error as exc:
        raise InvalidInput("file", source, f"line 1: is not valid CSV: {exc}") from None
    spelled = [name.strip() for name in raw]
    header = [name.lower() for name in spelled]
    checked_map(options.columns, kind)  # a bad --map is refused before the file's names are compared
    absent = [given for given, _ in options.columns if given.strip().lower() not in header]
    if absent:
        raise InvalidInput("map", absent[0], f"is not a column of {source}; its columns are: {listed_names(spelled)}")
    return named_columns(header, kind, source, options, where="line 1 (the header)", spelled=spelled)


def named_columns(header: list[str], kind: str, source: str, options: Options, *, where: str,
                  noun: str = "column", spelled: list[str] | None = None) -> Header:
    """The file's names (lower case; `spelled` as the file writes them, for messages) -> crm's:
    --map applied, extra columns left out with --ignore-extra; every problem refused at once."""
    spelled = spelled or header
    mapping = checked_map(options.columns, kind)
    known = COLUMNS[kind]
    names: list[str | None] = [mapping.get(name, name) if name in mapping else name for name in header]
    # A column mapped onto a name the file also has (and keeps): two columns for one field.
    doubled = {target: given for given, target in mapping.items()
               if target is not None and given in header and target in header and target not in mapping}
    problems = [f"{given!r} is mapped onto {target!r}, which the file also has" for target, given in doubled.items()]
    unknown = [n for n, name in enumerate(names) if name is not None and name not in known and name != ERROR_COLUMN]
    ignored = []
    if options.ignore_extra:
        ignored = [spelled[n] or f"{noun} {n + 1} (no name)" for n in unknown]
        for n in unknown:
            names[n] = None
    else:
        named = [spelled[n] for n in unknown if header[n]]
        if named:
            problems.append(f"unknown {noun} " + listed_names(named))
        if "" in names:
            problems.append(f"{noun} {names.index('') + 1} has no name (--ignore-extra leaves it out)")
    counts = collections.Counter(name for name in names if name is not None)
    repeated = sorted(name for name, count in counts.items() if count > 1 and name not in doubled)
    if repeated:
        problems.append(f"repeated {noun} " + listed_names(repeated))
    missing = [name for name in REQUIRED[kind] if name not in names]
    if missing:
        problems.append(f"missing {noun} " + ", ".join(repr(n) for n in missing))
    if kind != "customers" and not any(key in names for key in CUSTOMER_KEYS):
        problems.append(f"no {noun} names the customer: give customer_id, customer_external_id or customer_email")
    if problems:
        hint = "" if options.ignore_extra or not unknown else " (--ignore-extra leaves unknown ones out, --map " \
            "renames them)"
        raise InvalidInput("file", source, f"{where}: {'; '.join(problems)}. The {kind} {noun}s are: "
                           f"{', '.join(known)}{hint}")
    return Header(raw=header, names=names, ignored=ignored)


def checked_map(pairs: tuple[tuple[str, str | None], ...], kind: str) -> dict[str, str | None]:
    """--map as {the file's name, lower case: crm's name, or None to leave the column out}; a target
    that is not a column of the kind, a column mapped twice or two onto one are refused."""
    mapping: dict[str, str | None] = {}
    known = COLUMNS[kind]
    for given, target in pairs:
        key = given.strip().lower()
        if target is not None and target not in known:
            raise InvalidInput("map", f"{given}={target}", f"{target!r} is not a {kind} column; they are: "
                               + ", ".join(known))
        if key in mapping:
            raise InvalidInput("map", given, "is mapped twice")
        if target is not None and target in mapping.values():
            first = next(name for name, onto in mapping.items() if onto == target)
            raise InvalidInput("map", f"{given}={target}", f"maps a second column onto {target} (after {first!r}); "
                               "a crm column takes one of the file's")
        mapping[key] = target
    return mapping


def listed_names(names: list[str]) -> str:
    """'a', 'b' ... and N more: a header of thousands of columns gives a message of one line."""
    shown = ", ".join(repr(name[:40] + ("..." if len(name) > 40 else "")) for name in names[:MAX_LISTED_NAMES])
    return shown + (f" and {len(names) - MAX_LISTED_NAMES} more" if len(names) > MAX_LISTED_NAMES else "")
