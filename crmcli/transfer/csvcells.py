"""The one rule for CSV cells a spreadsheet would run as a formula (OWASP "CSV injection").

Every CSV crm writes (reports, exports, rejects files) puts an apostrophe before a
text cell that starts with = + - @ tab or CR: `neutralise`. An import takes that
apostrophe off again: `unescape`. So that an export imports back exactly as it was
stored, stored text that itself starts with an apostrophe followed by a trigger, or
by a second apostrophe, gets one more on export: `escape_apostrophe`.
"""

from __future__ import annotations

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
APOSTROPHE = "'"
# What may follow the apostrophe that an import takes off.
_UNESCAPED_AFTER = (*FORMULA_TRIGGERS, APOSTROPHE)
_NEEDS_EXTRA_APOSTROPHE = tuple(APOSTROPHE + first for first in _UNESCAPED_AFTER)


def neutralise(text: str) -> str:
    """Text as a CSV cell: an apostrophe before text a spreadsheet would run as a formula."""
    return APOSTROPHE + text if text.startswith(FORMULA_TRIGGERS) else text


def escape_apostrophe(text: str) -> str:
    """Stored text that an import would take an apostrophe off, with one more, so that it imports back as it is."""
    return APOSTROPHE + text if text.startswith(_NEEDS_EXTRA_APOSTROPHE) else text


def unescape(cell: str) -> str:
    """A cell of crm's CSV as the text it stands for: the apostrophe before a trigger or an apostrophe taken off."""
    # Not cell.startswith(_NEEDS_EXTRA_APOSTROPHE): this runs on every cell of an import, and the
    # first-character test is quicker for the cells that do not start with an apostrophe (nearly all).
    return cell[1:] if cell[:1] == APOSTROPHE and cell[1:2] and cell[1] in _UNESCAPED_AFTER else cell
