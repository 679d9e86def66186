"""What every listing and report takes besides its filters: --columns, --sort and --wide."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from crmcli.errors import InvalidInput

if TYPE_CHECKING:
    from crmcli.output import Column

ColumnsOption = Annotated[str | None, typer.Option(
    "--columns", metavar="COLUMNS", help="Only these columns, in this order, comma-separated (e.g. "
    "'name,revenue'); every format. The names are the CSV header's.", show_default=False)]
SortOption = Annotated[str | None, typer.Option(
    "--sort", metavar="COLUMN", help="Sort by COLUMN, smallest first; -COLUMN (or COLUMN:desc) for largest "
    "first. Empty values last. Applied before --limit.", show_default=False)]
WideOption = Annotated[bool, typer.Option(
    "--wide", "-w", help="In a table, show every column, sentences included, whatever the terminal's width "
    "(one record at a time if they do not fit side by side).")]


@dataclass(frozen=True)
class View:
    """--columns, --sort and --wide as given."""
    columns: str | None = None
    sort: str | None = None
    wide: bool = False

    def fetch_limit(self, limit: int | None) -> int | None:
        """The limit to fetch with: a sort needs every row first (it decides which come first)."""
        return None if self.sort else limit

    def choose(self, cols: Sequence[Column]) -> list[Column]:
        """The columns to show: --columns picks and orders them (a table shows exactly those);
        --wide puts every column in the table."""
        if self.columns is None:
            return [replace(col, in_table=True) if self.wide else col for col in cols]
        by_key = {col.key: col for col in cols}
        names = [name.strip() for name in self.columns.split(",") if name.strip()]
        if not names:
            raise InvalidInput("columns", self.columns, "names no column; choose from " + ", ".join(by_key))
        unknown = [name for name in names if name not in by_key]
        if unknown:
            raise InvalidInput("columns", unknown[0], "is not a column here; choose from " + ", ".join(by_key))
        return [replace(by_key[name], in_table=True, priority=0) for name in dict.fromkeys(names)]

    def arrange(self, rows: Iterable[dict[str, Any]], cols: Sequence[Column],
                limit: int | None) -> Iterable[dict[str, Any]]:
        """Rows sorted by --sort (stable: ties keep the command's own order), then cut to `limit`.
        Without a sort the rows stream through as they come: a 100,000-row report is never held whole."""
        if limit is not None and not 0 < limit <= sys.maxsize:
            limit = None  # 0, or more rows than any list can hold: no limit
        if not self.sort:
            if isinstance(rows, list):
                return rows[:limit] if limit else rows
            return itertools.islice(rows, limit) if limit else rows
        rows = list(rows)
        if self.sort:
            key, descending = _sort_key(self.sort, [col.key for col in cols])
            present = [row for row in rows if row.get(key) not in (None, "")]
            empty = [row for row in rows if row.get(key) in (None, "")]
            present.sort(key=lambda row: _comparable(row[key]), reverse=descending)
            rows = present + empty
        return rows[:limit] if limit else rows


def _sort_key(text: str, keys: Sequence[str]) -> tuple[str, bool]:
    descending = text.startswith("-") or text.lower().endswith(":desc")
    key = text.removeprefix("-").removesuffix(":desc").removesuffix(":DESC").removesuffix(":asc").strip()
    if key not in keys:
        raise InvalidInput("sort", text, "is not a column here; choose from " + ", ".join(keys))
    return key, descending


def _comparable(value: Any) -> tuple[int, Any]:
    """Numbers by value, text without regard to case; a column holding both puts numbers first."""
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float, Decimal)):
        return (0, value)
    return (1, str(value).casefold())
