"""Rows + columns + format -> table, csv, tsv, json or jsonl, on stdout or in a file (see files.destination).

Machine formats are written with the csv and json modules straight to the
stream, never through rich, so they are never wrapped, truncated or coloured.
CSV and TSV lines end with LF, or CRLF under --crlf (transfer/csvcells.line_end).
"""

from __future__ import annotations

import io
import json
import numbers
import operator
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from crmcli.errors import InvalidInput
from crmcli.output.files import destination
from crmcli.output.tables import write_table
from crmcli.output.terminal import pairs
from crmcli.transfer import csvcells
from crmcli.transfer.csvcells import NEEDS_A_LOOK, cell, line_end

FORMATS = ("table", "csv", "tsv", "json", "jsonl")
MACHINE_FORMATS = FORMATS[1:]


@dataclass(frozen=True)
class Column:
    key: str  # the machine name: CSV header and JSON key
    label: str = ""  # the table header; defaults to the key
    numeric: bool = False  # right-aligned in tables, never wrapped
    in_table: bool = True  # False: only in csv/json/jsonl (and in a table's --columns or --wide)
    priority: int = 0  # 0: always in a table; on a narrow terminal the highest numbers are left out first
    sentence: bool = False  # long text: under its row on a terminal, never squeezed into a narrow column
    machine: bool = True  # False: a table's words for a value the machine formats carry as a number

    @property
    def title(self) -> str:
        return self.label or _SHORT_LABELS.get(self.key) or self.key.replace("_", " ")

    @property
    def wraps(self) -> bool:
        """Text that may take a second line in a table, broken at spaces; numbers and dates never are."""
        return not self.numeric and self.key not in _UNBROKEN_KEYS


# Table headers that would otherwise take more room than their values.
_SHORT_LABELS = {
    "customer_id": "id", "predicted_clv": "clv", "days_since_last_purchase": "days silent",
    "typical_gap_days": "usual gap", "open_complaints": "open compl.", "expected_purchases": "exp. purchases",
    "value_at_risk": "value at risk", "churn_risk": "churn risk", "resolution_days": "days to resolve",
}
# Values with a space inside that read as one thing (a date and its time, a phone number).
_UNBROKEN_KEYS = frozenset({"phone", "when", "at", "created_at", "done_at", "resolved_at", "started_at",
                            "undone_at", "set_at", "due"})


def columns(*keys: str, numeric: Sequence[str] = (), table: Sequence[str] | None = None,
            priority: dict[str, int] | None = None, sentences: Sequence[str] = ()) -> list[Column]:
    """Columns by key. `table`, if given, names the ones a terminal table shows (all by default);
    `priority` ranks them for a narrow terminal (unnamed ones are 0, never left out);
    `sentences` are long text shown under the row."""
    return [Column(key, numeric=key in numeric, in_table=table is None or key in table,
                   priority=(priority or {}).get(key, 0), sentence=key in sentences) for key in keys]


def choose_format(fmt: str | None, output: Path | None, stdout: TextIO | None = None) -> str:
    """The format asked for; else by the output file's extension; else table on a terminal, csv otherwise."""
    if fmt:
        if fmt not in FORMATS:
            raise InvalidInput("format", fmt, "must be one of " + ", ".join(FORMATS))
        return fmt
    if output is not None:
        suffix = Path(output).suffix.lower().lstrip(".")
        return suffix if suffix in MACHINE_FORMATS else "csv"
    stream = stdout or sys.stdout
    return "table" if stream.isatty() else "csv"


def plain(value: Any) -> Any:
    """A value as it goes into JSON: dates as ISO text, amounts as numbers."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: raw numbers, ISO dates, text neutralised against formulas."""
    kind = type(value)
    # Numbers first: they are most cells of a large report, and never neutralised
    # (a negative amount is data, not a formula).
    if kind is int or kind is float or kind is Decimal:
        return value
    if kind is str:
        # transfer/csvcells.neutralise, its first test inlined: this runs on every text cell of every
        # CSV, and only the few cells that start with a trigger pay for the rest of the rule.
        # transfer/csvcells.cell, the one rule (formulas neutralised; text that starts like a neutralised
        # cell, '=x, one more apostrophe, so every csv crm writes imports back unchanged). Its first test
        # is inlined: only the few cells that start with a trigger or an apostrophe pay for the rest.
        return cell(value) if value.startswith(NEEDS_A_LOOK) else value
    if value is None:
        return ""
    if isinstance(value, dict):
        return csv_cell(pairs(value))
    if isinstance(value, (list, tuple)):
        return csv_cell(";".join(str(v) for v in value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Number):  # numpy scalars and the like
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return csv_cell(str(value))


def write_csv(rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO) -> None:
    """RFC 4180's quoting (quotes where needed), a header row even for no rows; LF line ends, CRLF
    under --crlf. A cell with a line break in it is quoted, as RFC 4180 says, whatever the line end."""
    writer = csvcells.writer(stream)
    keys = [c.key for c in cols]
    writer.writerow(keys)
    column_chunks = getattr(rows, "column_chunks", None)
    if column_chunks is not None and len(keys) > 1:
        # Rows that come a column at a time (analytics.rows.ReportRows: a report of every customer):
        # each column's cells made in one pass, joined into lines, no dict or csv call per row.
        _write_csv_columns(column_chunks(keys), keys, stream)
        return
    for values in _values(rows, keys):
        # Numbers go to the csv module as they are; only the other cells pay for csv_cell's call.
        writer.writerow([value if type(value) in _AS_THEY_ARE else csv_cell(value) for value in values])


_AS_THEY_ARE = frozenset({int, float})
_NUMBERS = frozenset({int, float, Decimal})
# What makes the csv module quote a cell, given csvcells.writer's dialect (QUOTE_MINIMAL, the delimiter,
# the quote character, and the CR and LF of its CRLF terminator): the same bytes as writerow, checked by
# tests/output/test_csv_columns.py against the csv module itself.
_NEEDS_QUOTES = re.compile('[,"\r\n]')


def _write_csv_columns(chunks: Iterable[dict[str, list[Any]]], keys: Sequence[str], stream: TextIO) -> None:
    """Rows given as chunks of column lists, written as write_csv writes rows (more than one column: the
    csv module quotes the lone empty cell of a one-column row, which this does not)."""
    end = line_end()
    for columns in chunks:
        texts = [_csv_texts(columns[key]) for key in keys]
        if texts and texts[0]:
            stream.write(end.join(map(",".join, zip(*texts, strict=True))) + end)


def _csv_texts(values: list[Any]) -> list[str]:
    """A column's cells as the csv module writes them: str() of numbers (repr for floats), csv_cell of
    the rest, quoted when they hold a delimiter, a quote or a line break."""
    kinds = set(map(type, values))
    if kinds <= _NUMBERS:
        return list(map(str, values))  # never quoted: no comma, quote or line break in a number
    if kinds == {str}:
        texts = [cell(value) if value.startswith(NEEDS_A_LOOK) else value for value in values]
    else:
        texts = [_csv_text(value) for value in values]
    if _NEEDS_QUOTES.search("".join(texts)):
        return [_quoted(text) if _NEEDS_QUOTES.search(text) else text for text in texts]
    return texts


def _csv_text(value: Any) -> str:
    shown = value if type(value) in _AS_THEY_ARE else csv_cell(value)
    return shown if type(shown) is str else str(shown)


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _values(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> Iterator[Sequence[Any]]:
    """Each row's values in column order (operator.itemgetter, in C); a row without some key gives None there."""
    if not keys:
        for _ in rows:
            yield ()
        return
    pick, single = operator.itemgetter(*keys), len(keys) == 1
    for row in rows:
        try:
            values = pick(row)
        except KeyError:
            yield tuple(row.get(key) for key in keys)
            continue
        yield (values,) if single else values


# TSV as PostgreSQL's text COPY writes it: a tab between cells, and inside a cell a backslash, tab,
# line feed or carriage return written as \\, \t, \n, \r, so a row is always one line.
_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def tsv_cell(value: Any) -> str:
    """A value as a TSV cell: the CSV cell (formula rule included), escaped as COPY does."""
    return str(csv_cell(value)).translate(_TSV_ESCAPES)


def write_tsv(rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO) -> None:
    """A header row, then one line a row; cells tab-separated, escaped by tsv_cell; LF (or --crlf)."""
    end = line_end()
    keys = [c.key for c in cols]
    stream.write("\t".join(tsv_cell(key) for key in keys) + end)
    for row in rows:
        get = row.get
        stream.write("\t".join([tsv_cell(get(key)) for key in keys]) + end)


def write_json(rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO) -> None:
    """One JSON array, written a row at a time so memory stays flat."""
    stream.write("[")
    for n, row in enumerate(rows):
        stream.write(",\n" if n else "\n")
        stream.write(json.dumps({c.key: plain(row.get(c.key)) for c in cols}, ensure_ascii=False))
    stream.write("\n]\n")


def write_jsonl(rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO) -> None:
    for row in rows:
        stream.write(json.dumps({c.key: plain(row.get(c.key)) for c in cols}, ensure_ascii=False))
        stream.write("\n")


def render(
    rows: Iterable[dict[str, Any]],
    cols: Sequence[Column],
    *,
    fmt: str | None = None,
    output: Path | None = None,
    title: str | None = None,
    **table: Any,
) -> str:
    """Write rows in the chosen format. Returns the format used. `table`: write_table's options
    (wide, see_also, empty), used only by a table."""
    chosen = choose_format(fmt, output)
    with destination(output) as stream:
        write(chosen, rows, cols, stream, title=title, is_terminal=output is None and stream.isatty(), **table)
    return chosen


def write(chosen: str, rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO, *,
          title: str | None = None, is_terminal: bool = False, **table: Any) -> None:
    """Rows in format `chosen` onto an open stream (render() opens the stream for you)."""
    if chosen != "table":
        cols = [col for col in cols if col.machine]
    if chosen == "csv":
        write_csv(rows, cols, stream)
    elif chosen == "tsv":
        write_tsv(rows, cols, stream)
    elif chosen == "json":
        write_json(rows, cols, stream)
    elif chosen == "jsonl":
        write_jsonl(rows, cols, stream)
    else:
        write_table(rows, cols, stream, title=title, is_terminal=is_terminal, **table)


def render_to_string(rows: Iterable[dict[str, Any]], cols: Sequence[Column], fmt: str) -> str:
    """The same output as text (for tests and for the Python API)."""
    buffer = io.StringIO()
    {"csv": write_csv, "tsv": write_tsv, "json": write_json, "jsonl": write_jsonl}.get(fmt, write_table)(
        rows, cols, buffer)
    return buffer.getvalue()
