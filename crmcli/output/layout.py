"""How a table fits a terminal: which columns it shows, how wide each is, and where its long text goes.

The rule is crmcli's, stricter than most tools': a value is never cut, never broken inside a word and
never left out silently. A row takes at most ROW_LINES lines (SENTENCE_LINES when its long text goes under
it). When the columns do not fit, those of lowest priority are left out, and the table says which; when
even the essential ones do not fit, the rows are shown one record at a time instead.

Written by hand rather than with rich's Table: rich folds a cell that is too narrow in the middle of a word,
has no line budget per row, no way to put a sentence under its row, and no notion of leaving a column out.
Widths are measured in terminal cells with rich.cells (wide CJK characters and emoji take two).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len

GAP = 2  # spaces between two columns
ROW_LINES = 2  # the most lines a row's cells may take
SENTENCE_LINES = 3  # the most lines a row with its sentence under it may take
SENTENCE_INDENT = 4  # a sentence under its row starts this far in


def words(text: str) -> list[str]:
    return text.split(" ")


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` cells, broken only at spaces. A word wider than `width` stays whole
    on its own line (the caller chooses widths so that this does not happen in a table)."""
    if cell_len(text) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for word in words(text):
        candidate = f"{current} {word}" if current else word
        if current and cell_len(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    lines.append(current)
    return lines


def fold(text: str, width: int) -> list[str]:
    """wrap(), and then a word wider than the whole line (a long URL) continued on the next line at the
    edge: the one place a word is broken, since no width would hold it; nothing of it is lost."""
    lines = []
    for line in wrap(text, width):
        while cell_len(line) > width:
            cut = max(n for n in range(1, len(line) + 1) if cell_len(line[:n]) <= width) if width > 1 else 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def longest_word(text: str) -> int:
    return max((cell_len(word) for word in words(text)), default=0)


def narrowest(text: str, lines: int) -> int:
    """The narrowest width at which `text` wraps (at spaces) into at most `lines` lines."""
    low, high = longest_word(text), cell_len(text)
    while low < high:  # the number of lines only falls as the width grows, so bisect
        middle = (low + high) // 2
        if len(wrap(text, middle)) <= lines:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass
class Plan:
    """What the table will show: columns by index into the given ones, their widths, the sentence columns
    shown under each row, and the columns left out (named in a note under the table)."""
    shown: list[int] = field(default_factory=list)
    widths: list[int] = field(default_factory=list)
    under: list[int] = field(default_factory=list)
    left_out: list[int] = field(default_factory=list)
    records: bool = False  # even the essential columns do not fit: one record at a time

    def lines_of(self, cells: Sequence[str]) -> int:
        return max((len(wrap(cells[index], width)) for index, width in zip(self.shown, self.widths, strict=True)),
                   default=1)


def plan(titles: Sequence[str], cells: Sequence[Sequence[str]], priorities: Sequence[int],
         sentences: Sequence[bool], wraps: Sequence[bool], width: int | None, *, wide: bool = False) -> Plan:
    """Choose columns and widths for rows of `cells` (one list of strings per row) in `width` cells.

    priorities: 0 never left out; higher numbers are left out first. sentences: long text, shown under
    its row on a narrow terminal. wraps: text that may take a second line (broken at spaces only).
    width None: no limit (a file or a pipe), every column on one line. wide: leave nothing out.
    """
    count = len(titles)
    natural = [max([cell_len(titles[i]), *(cell_len(row[i]) for row in cells)]) for i in range(count)]
    if width is None or _total(natural, range(count)) <= width:
        return Plan(shown=list(range(count)), widths=natural)
    budget = 10**9 if wide else ROW_LINES
    # A header may take two lines whatever its column holds; a cell only if its column wraps.
    minimum = [max([narrowest(titles[i], ROW_LINES),
                    *((narrowest(row[i], budget) if wraps[i] or sentences[i] else cell_len(row[i])) for row in cells)])
               for i in range(count)]
    in_row = [i for i in range(count) if not sentences[i]]
    under = [i for i in range(count) if sentences[i]]
    left_out: list[int] = []
    # Leave out the lowest priority first (the rightmost of equals), never a priority-0 column.
    by_drop_order = sorted((i for i in in_row if priorities[i] > 0 and not wide),
                           key=lambda i: (priorities[i], i), reverse=True)
    while _total(minimum, in_row) > width and by_drop_order:
        dropped = by_drop_order.pop(0)
        in_row.remove(dropped)
        left_out.append(dropped)
    if _total(minimum, in_row) > width:
        return Plan(records=True)
    for i in list(under):  # a sentence that fits beside the other cells (in two lines at most) stays in the row
        if _total(minimum, [*in_row, i]) <= width:
            under.remove(i)
            in_row.append(i)
    in_row.sort()
    # Room goes first to the cells (a header may keep two lines), then to one-line headers.
    cells_natural = [max([narrowest(titles[i], ROW_LINES), *(cell_len(row[i]) for row in cells)]) for i in range(count)]
    widths = _widen(in_row, minimum, cells_natural, priorities, width)
    widths = _widen(in_row, widths_by_index(in_row, widths, count), natural, priorities, width)
    result = Plan(shown=in_row, widths=widths, left_out=left_out)
    text_width = width - SENTENCE_INDENT
    used = [result.lines_of(row) for row in cells]  # lines each row takes so far
    for i in under:
        label = titles[i] + ": "
        needed = [len(wrap(label + row[i], text_width)) if row[i] else 0 for row in cells]
        fits = all(cell_len(label) + longest_word(row[i]) <= text_width for row in cells) and (
            wide or all(lines + more <= SENTENCE_LINES for lines, more in zip(used, needed, strict=True)))
        if fits:
            result.under.append(i)
            used = [lines + more for lines, more in zip(used, needed, strict=True)]
        else:
            result.left_out.append(i)
    result.left_out.sort()
    return result


def widths_by_index(shown: Sequence[int], widths: Sequence[int], count: int) -> list[int]:
    full = [0] * count
    for i, w in zip(shown, widths, strict=True):
        full[i] = w
    return full


def _total(widths: Sequence[int], shown: Sequence[int] | range) -> int:
    return sum(widths[i] for i in shown) + GAP * max(len(shown) - 1, 0)


def _widen(shown: list[int], minimum: Sequence[int], natural: Sequence[int], priorities: Sequence[int],
           width: int) -> list[int]:
    """Start every column at its narrowest; give the room left to the most important ones first, up to
    what each needs to take one line."""
    widths = {i: minimum[i] for i in shown}
    room = width - _total(minimum, shown)
    for i in sorted(shown, key=lambda i: (priorities[i], i)):
        grow = min(room, natural[i] - widths[i])
        widths[i] += grow
        room -= grow
    return [widths[i] for i in shown]
