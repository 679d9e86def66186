"""The terminal table, drawn with rich (imported only when a table is drawn)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from crmcli.output.terminal import safe_text

if TYPE_CHECKING:
    from crmcli.output.formats import Column


def write_table(
    rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO, *, title: str | None = None,
    is_terminal: bool = False,
) -> None:
    # rich is imported only here: the machine formats and most writes never load it.
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    no_color = bool(os.environ.get("NO_COLOR")) or not is_terminal
    cols = [col for col in cols if col.in_table]
    # The title is often stored text (a customer's name): shown literally, like the cells.
    table = Table(title=Text(safe_text(title)) if title is not None else None, show_lines=False,
                  header_style="bold", highlight=False)
    for col in cols:
        # On a terminal long cells fold onto more lines; they are never cut with an ellipsis.
        # Numbers are never broken across lines; text wraps at spaces on a narrow terminal.
        table.add_column(col.title, justify="right" if col.numeric else "left", overflow="fold",
                         no_wrap=col.numeric)
    for row in rows:
        # Text objects, not strings: '[red]' typed in a note is shown, not interpreted as markup.
        table.add_row(*(Text(safe_text(row.get(col.key))) for col in cols))
    # Not a terminal (a pipe, a file): rich would wrap at 80 columns (rich#501), so
    # give it all the width it asks for and let the table take its natural width.
    width = None if is_terminal else 100_000
    console = Console(file=stream, width=width, no_color=no_color, force_terminal=is_terminal or None,
                      color_system=None if no_color else "auto", soft_wrap=False, highlight=False)
    console.print(table)
