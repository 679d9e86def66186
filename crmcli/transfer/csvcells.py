"""The one rule for CSV cells a spreadsheet would run as a formula (OWASP "CSV injection"), and the
line ending of every CSV and TSV crm writes.

The formula rule, exactly (`neutralise`): a text cell gets an apostrophe in front when
  - it starts with `=`, `@`, a tab or a carriage return, whatever follows; or
  - it starts with `+` or `-` and is not, as a whole, one of
      a plain number: the sign, digits, optionally `.` and digits (`-12.50`, `+3`, `-0.5`), or
      a phone number: `+`, a digit, then only digits, spaces, `-`, `.`, `(` and `)`, ending in a digit,
                      with at least 7 digits in all (`+63 917 555 0101`, `+1 (555) 010-0101`).
Those two shapes contain no letter, `!`, `|`, `:` or `"`, so a spreadsheet can find no function, cell
reference or DDE command in them (`+A1`, `-cmd|' /C calc'!A0`, `+HYPERLINK(...)` are neutralised), and
no second `+`, so `-2+3` and `+1+1` are neutralised too. Text that does not start with a trigger (ISO
dates such as `2026-11-30`, names, emails) is never touched.

An import takes that apostrophe off again: `unescape`. So that an export imports back exactly as it was
stored, stored text that itself starts with an apostrophe followed by a trigger, or by a second
apostrophe, gets one more on export: `escape_apostrophe`.

Line ends: LF, as awk, cut and grep expect; CRLF (RFC 4180's) when the command line says `--crlf`
(`set_crlf`, set once per command by the CLI; `line_end` is what the writers use).
"""

from __future__ import annotations

import csv
import re
from typing import Any, TextIO

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
APOSTROPHE = "'"
# What may follow the apostrophe that an import takes off.
_UNESCAPED_AFTER = (*FORMULA_TRIGGERS, APOSTROPHE)
_NEEDS_EXTRA_APOSTROPHE = tuple(APOSTROPHE + first for first in _UNESCAPED_AFTER)
# The two shapes after a leading + or - that stay as they are (see the module docstring). ASCII digits
# only: re's \d would also take other scripts' digits.
_PLAIN_NUMBER = re.compile(r"[+-][0-9]+(?:\.[0-9]+)?")
_PHONE = re.compile(r"\+[0-9][0-9 ().-]*[0-9]")
_PHONE_MIN_DIGITS = 7

_line_end = {"value": "\n"}


def set_crlf(crlf: bool) -> None:
    """CRLF line ends for what this process writes from now on (the CLI's --crlf); LF otherwise."""
    _line_end["value"] = "\r\n" if crlf else "\n"


def line_end() -> str:
    return _line_end["value"]


def writer(stream: TextIO, **options: Any) -> Any:
    """A csv.writer onto `stream` that ends its rows with line_end(). csv quotes a cell only for the
    characters of its own line terminator, so with LF alone a cell holding a bare CR would go out
    unquoted and break the file: the writer always writes CRLF (quoting both CR and LF), and for LF
    only each row's final CRLF becomes LF; line breaks inside quoted cells stay as they were."""
    if line_end() == "\r\n":
        return csv.writer(stream, lineterminator="\r\n", **options)
    return csv.writer(_RowEndsLF(stream), lineterminator="\r\n", **options)


class _RowEndsLF:
    """What csv.writer writes to: one call per row (csv writes a row in one piece), its CRLF made LF."""

    __slots__ = ("_write",)

    def __init__(self, stream: TextIO):
        self._write = stream.write

    def write(self, row: str) -> int:
        return self._write(row[:-2] + "\n" if row.endswith("\r\n") else row)


def is_formula(text: str) -> bool:
    """Would a spreadsheet take this text for a formula? The rule in the module docstring."""
    if not text.startswith(FORMULA_TRIGGERS):
        return False
    if text[0] not in "+-":
        return True
    if _PLAIN_NUMBER.fullmatch(text):
        return False
    return not (_PHONE.fullmatch(text) and sum(c.isdigit() for c in text) >= _PHONE_MIN_DIGITS)


def neutralise(text: str) -> str:
    """Text as a CSV cell: an apostrophe before text a spreadsheet would run as a formula."""
    return APOSTROPHE + text if is_formula(text) else text


def escape_apostrophe(text: str) -> str:
    """Stored text that an import would take an apostrophe off, with one more, so that it imports back as it is."""
    return APOSTROPHE + text if text.startswith(_NEEDS_EXTRA_APOSTROPHE) else text


def cell(text: str) -> str:
    """Text as crm writes it in every CSV and TSV (reports, listings, exports, rejects aside): neutralised
    when a spreadsheet would run it, else one more apostrophe when it starts like a neutralised cell,
    so that unescape() gives back exactly the stored text."""
    return APOSTROPHE + text if is_formula(text) else escape_apostrophe(text)


# Text that starts with none of these is written as it is (the renderer's quick test).
NEEDS_A_LOOK = (*FORMULA_TRIGGERS, APOSTROPHE)


def unescape(cell: str) -> str:
    """A cell of crm's CSV as the text it stands for: the apostrophe before a trigger or an apostrophe taken off."""
    # Not cell.startswith(_NEEDS_EXTRA_APOSTROPHE): this runs on every cell of an import, and the
    # first-character test is quicker for the cells that do not start with an apostrophe (nearly all).
    return cell[1:] if cell[:1] == APOSTROPHE and cell[1:2] and cell[1] in _UNESCAPED_AFTER else cell
