"""The terminal table: columns that fit (output/layout.py chooses them), drawn as plain text.

No cell is cut. A narrow terminal gets fewer columns, by priority, and a note naming the ones left out
and how to see them; a sentence (the `why` of a report, a note) goes under its row, or is left out with
that note when it would take more lines than a row may. When even the essential columns do not fit, the
rows are shown one record at a time. Off a terminal (a file, a pipe) the table takes the width it needs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from crmcli.output import layout
from crmcli.output.terminal import safe_text

if TYPE_CHECKING:
    from crmcli.output.formats import Column

# How to see what a narrow table leaves out; a command may name a better place (`crm customer show ID`).
HOW_TO_SEE_ALL = "--wide shows every column, --columns chooses them, --format csv gives every value"


def terminal_width(stream: TextIO) -> int:
    """The terminal's width: $COLUMNS if set (as shells and `shutil` agree), else the stream's own."""
    try:
        return os.get_terminal_size(stream.fileno()).columns if "COLUMNS" not in os.environ else \
            shutil.get_terminal_size().columns
    except (OSError, ValueError, AttributeError):
        return shutil.get_terminal_size().columns


def write_table(
    rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO, *, title: str | None = None,
    is_terminal: bool = False, wide: bool = False, width: int | None = None, see_also: str | None = None,
    empty: str | None = None,
) -> None:
    """Rows as a table on `stream`. width: the terminal's (found from the stream when None and on a
    terminal); off a terminal there is no limit. see_also: where the left-out columns can be read."""
    cols = [col for col in cols if col.in_table]
    titles = [col.title for col in cols]
    # One header per meaning: where two short labels clash (`id` for id and customer_id), the longer
    # names are used.
    titles = [col.key.replace("_", " ") if titles.count(title) > 1 and col.label == "" and col.key != title else title
              for col, title in zip(cols, titles, strict=True)]
    cells = [[_shown(row.get(col.key)) for col in cols] for row in rows]
    bold = is_terminal and not os.environ.get("NO_COLOR")
    limit = (width or terminal_width(stream)) if is_terminal else width
    lines: list[str] = [] if title is None else _wrapped(safe_text(title), limit or 10**9)
    if not cells:
        stream.write("\n".join([*lines, *_wrapped(empty or "(none)", limit or 10**9)]) + "\n")
        return
    if [col.key for col in cols] == ["field", "value"]:
        # One record (customer show, info): each field beside its value, the value wrapped under itself.
        lines += _fields([row[0] for row in cells], [row[1] for row in cells], limit or 10**9)
        stream.write("\n".join(lines) + "\n")
        return
    chosen = layout.plan(titles, cells, [col.priority for col in cols], [col.sentence for col in cols],
                         [col.wraps for col in cols], limit, wide=wide)
    if chosen.records:
        lines += _records(titles, cells, limit or 80)
    else:
        lines += _header(titles, chosen, [col.numeric for col in cols], bold)
        for row in cells:
            lines += _row(row, chosen, [col.numeric for col in cols], titles, limit)
    if chosen.left_out:
        left = ", ".join(titles[i] for i in chosen.left_out)
        lines += _wrapped(f"(not shown at {limit} columns: {left}; {see_also or HOW_TO_SEE_ALL})", limit or 80)
    stream.write("\n".join(lines) + "\n")


def _shown(value: Any) -> str:
    """A value as a table shows it: yes/no for booleans, parameters rounded to 4 significant digits
    (the machine formats keep them whole), stored text with its control characters escaped."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return " ".join(f"{key}={number:.4g}" if isinstance(number, float) else f"{key}={safe_text(number)}"
                        for key, number in value.items())
    return safe_text(value)


def _cell(text: str, width: int, numeric: bool) -> str:
    pad = width - layout.cell_len(text)
    return " " * pad + text if numeric else text + " " * pad


def _header(titles: Sequence[str], chosen: layout.Plan, numeric: Sequence[bool], bold: bool) -> list[str]:
    wrapped = [layout.wrap(titles[i], w) for i, w in zip(chosen.shown, chosen.widths, strict=True)]
    height = max(len(lines) for lines in wrapped)
    out = []
    for n in range(height):
        # A two-line header sits on the rule: its first line blank where the title takes one line.
        parts = [_cell(lines[n - (height - len(lines))] if n >= height - len(lines) else "", w, numeric[i])
                 for lines, i, w in zip(wrapped, chosen.shown, chosen.widths, strict=True)]
        line = (" " * layout.GAP).join(parts).rstrip()
        out.append(f"\x1b[1m{line}\x1b[0m" if bold and line else line)
    out.append((" " * layout.GAP).join("─" * w for w in chosen.widths))
    return out


def _row(row: Sequence[str], chosen: layout.Plan, numeric: Sequence[bool], titles: Sequence[str],
         limit: int | None) -> list[str]:
    wrapped = [layout.wrap(row[i], w) for i, w in zip(chosen.shown, chosen.widths, strict=True)]
    height = max(len(lines) for lines in wrapped)
    out = []
    for n in range(height):
        parts = [_cell(lines[n] if n < len(lines) else "", w, numeric[i])
                 for lines, i, w in zip(wrapped, chosen.shown, chosen.widths, strict=True)]
        out.append((" " * layout.GAP).join(parts).rstrip())
    for i in chosen.under:
        if row[i]:
            indent = " " * layout.SENTENCE_INDENT
            out += [indent + line for line in layout.wrap(f"{titles[i]}: {row[i]}", (limit or 10**9) - len(indent))]
    return out


def _records(titles: Sequence[str], cells: Sequence[Sequence[str]], limit: int) -> list[str]:
    """One record at a time, each headed by its number: what a table becomes when even its essential
    columns do not fit the terminal."""
    out: list[str] = []
    for n, row in enumerate(cells, start=1):
        out.append(f"── {n} " + "─" * max(limit - len(str(n)) - 4, 0))
        out += _fields(titles, row, limit)
    return out


def _fields(labels: Sequence[str], values: Sequence[str], limit: int) -> list[str]:
    """`label  value` lines, the value wrapped at spaces under itself; empty values left out. When the
    labels would take more than half the line, each value goes under its label instead."""
    label_width = max(layout.cell_len(label) for label in labels) + layout.GAP
    beside = label_width <= limit // 2
    out: list[str] = []
    for label, value in zip(labels, values, strict=True):
        if not value:
            continue
        if beside:
            lines = layout.fold(value, limit - label_width)
            out.append(label + " " * (label_width - layout.cell_len(label)) + lines[0])
            out += [" " * label_width + line for line in lines[1:]]
        else:
            out.append(label + ":")
            out += ["  " + line for line in layout.fold(value, limit - 2)]
    return out


def _wrapped(text: str, limit: int) -> list[str]:
    return layout.fold(text, limit)
