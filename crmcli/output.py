"""The one renderer: rows + columns + format -> table, csv, json or jsonl, on stdout or in a file.

Machine formats are written with the csv and json modules straight to the
stream, never through rich, so they are never wrapped, truncated or coloured.
A file given with --output is written to a temporary file beside it and renamed
into place, so a reader (or a cron job that dies half-way) never sees half a report.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import numbers
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from crmcli.errors import InvalidInput, OutputClosed, OutputFailed
from crmcli.transfer.csvcells import APOSTROPHE, FORMULA_TRIGGERS

FORMATS = ("table", "csv", "json", "jsonl")


@dataclass(frozen=True)
class Column:
    key: str  # the machine name: CSV header and JSON key
    label: str = ""  # the table header; defaults to the key
    numeric: bool = False  # right-aligned in tables
    in_table: bool = True  # False: only in csv/json/jsonl, to keep a terminal table readable

    @property
    def title(self) -> str:
        return self.label or _SHORT_LABELS.get(self.key) or self.key.replace("_", " ")


# Table headers that would otherwise take more room than their values.
_SHORT_LABELS = {
    "customer_id": "id", "predicted_clv": "clv", "days_since_last_purchase": "days silent",
    "typical_gap_days": "usual gap", "open_complaints": "open compl.", "expected_purchases": "exp. purchases",
    "value_at_risk": "value at risk", "churn_risk": "churn risk", "resolution_days": "days to resolve",
}


def columns(*keys: str, numeric: Sequence[str] = (), table: Sequence[str] | None = None) -> list[Column]:
    """Columns by key. `table`, if given, names the ones a terminal table shows (all by default)."""
    return [Column(key, numeric=key in numeric, in_table=table is None or key in table) for key in keys]


def choose_format(fmt: str | None, output: Path | None, stdout: TextIO | None = None) -> str:
    """The format asked for; else by the output file's extension; else table on a terminal, csv otherwise."""
    if fmt:
        if fmt not in FORMATS:
            raise InvalidInput("format", fmt, "must be one of " + ", ".join(FORMATS))
        return fmt
    if output is not None:
        suffix = Path(output).suffix.lower().lstrip(".")
        return suffix if suffix in ("csv", "json", "jsonl") else "csv"
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


def _pairs(mapping: dict) -> str:
    """{'r': 0.24, 'alpha': 4.4} -> 'r=0.24;alpha=4.4': one flat cell for CSV and tables."""
    return ";".join(f"{key}={value}" for key, value in mapping.items())


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: raw numbers, ISO dates, text neutralised against formulas."""
    kind = type(value)
    # Numbers first: they are most cells of a large report, and never neutralised
    # (a negative amount is data, not a formula).
    if kind is int or kind is float or kind is Decimal:
        return value
    if kind is str:
        # transfer/csvcells.neutralise, inlined: this runs on every text cell of every CSV.
        return APOSTROPHE + value if value.startswith(FORMULA_TRIGGERS) else value
    if value is None:
        return ""
    if isinstance(value, dict):
        return csv_cell(_pairs(value))
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
    """RFC 4180: CRLF line ends, quotes where needed, a header row even for no rows."""
    writer = csv.writer(stream, lineterminator="\r\n")
    keys = [c.key for c in cols]
    writer.writerow(keys)
    for row in rows:
        get = row.get
        writer.writerow([csv_cell(get(key)) for key in keys])


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


def safe_text(value: Any) -> str:
    """Stored text as shown on a terminal: control characters (escape sequences
    included) are shown as \\xNN instead of being executed."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value = _pairs(value)
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return f"{value:.2f}" if value.as_tuple().exponent == -2 else str(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return terminal_text(str(value))


# Invisible characters that are part of how text is written, shown as they are: the zero-width
# joiner and non-joiner (emoji sequences such as 👩‍💻, Persian and Indic scripts).
_SHOWN_FORMAT_CHARACTERS = frozenset("\u200c\u200d")
# A subdivision flag (🏴 + tag letters + cancel tag, e.g. England's): its tag characters are shown;
# tag characters anywhere else are invisible text and are escaped.
_TAG_FLAG = re.compile("\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F")


def _unassigned_or_private(ch: str) -> bool:
    """Characters newer than this Python's Unicode tables (new emoji) or private-use ones: a
    terminal draws them (perhaps as a box), it does not act on them."""
    import unicodedata

    return unicodedata.category(ch) in ("Cn", "Co")


def terminal_text(text: str) -> str:
    """Text as it may be written to a terminal: every character a terminal would act on rather
    than show is escaped as \\xNN, \\uNNNN or \\UNNNNNNNN. That is the C0 and C1 controls (ESC
    starts colour, cursor, title and hyperlink sequences; 0x9b is a one-byte CSI), DEL, line
    and paragraph separators, and format characters such as the right-to-left override U+202E,
    which would reorder what follows it on the screen. Spaces other than the plain space are
    escaped too, so that no two different values look the same. Letters, marks, emoji (with
    their skin tones, flags and joiners), unassigned and private-use characters are shown."""
    if text.isprintable():
        return text
    flags = {match.start(): match.end() for match in _TAG_FLAG.finditer(text)} if "\U0001F3F4" in text else {}
    shown = []
    position = 0
    while position < len(text):
        if position in flags:
            shown.append(text[position:flags[position]])
            position = flags[position]
            continue
        ch = text[position]
        position += 1
        if ch.isprintable() or ch == " " or ch in _SHOWN_FORMAT_CHARACTERS or _unassigned_or_private(ch):
            shown.append(ch)
        else:
            code = ord(ch)
            shown.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(shown)


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


# The database this process works on, named by the CLI before a command runs (protect_database):
# no file-writing option may write onto it or its companion files, however the path is spelled.
_database: Path | None = None


def protect_database(path: Path | None) -> None:
    global _database
    _database = Path(path) if path is not None else None


def refuse_database_files(target: Path, field: str, database: Path | None = None) -> None:
    """InvalidInput if `target` is the database (by default the one crm is using) or its -wal, -shm or
    -journal file: by its real path (relative, `..`, a symlink, a file not yet there such as a -wal) or
    by identity (a hard link)."""
    database = database or _database
    if database is None:
        return
    from crmcli.db import database_files

    real = os.path.realpath(target)
    for companion in database_files(database):
        same = os.path.realpath(companion) == real
        if not same and companion.exists() and target.exists():
            same = os.path.samefile(companion, target)
        if same:
            raise InvalidInput(field, str(target), f"is the database crm is using ({companion.name}); writing there "
                               "would destroy it. Give another file")


def _cannot_write(field: str, where: str, exc: OSError) -> OutputFailed:
    return OutputFailed(field, where, "it is closed" if exc.errno == errno.EBADF else str(exc.strerror or exc))


@contextmanager
def destination(output: Path | None, *, field: str = "output") -> Iterator[TextIO]:
    """stdout, or a temporary file renamed onto `output` only when everything was written.

    A write that fails (a full disk, a closed stdout, a folder that vanished) becomes a CrmError naming
    the target; a reader of stdout that went away (`| head`) becomes OutputClosed. Whatever the caller
    does inside the block (a commit) happens before the rename, so a file appears only for work done.
    """
    if output is None:
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as exc:
            raise _cannot_write(field, "standard output", exc) from None
        return
    given = str(output)
    target = Path(output).expanduser()
    refuse_database_files(target, field)
    if target.is_symlink():
        # Through a symlink the file it points at is written (as the shell's > does), not the link replaced.
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise InvalidInput(field, given, "is a directory; give a file name")
    if target.exists() and not target.is_file():
        # /dev/null, /dev/stdout, a named pipe: written to as it is. A temporary file renamed
        # onto it would replace the device itself (for root, /dev/null became a plain file).
        try:
            with open(target, "w", encoding="utf-8", newline="") as handle:
                yield handle
        except OSError as exc:
            raise _cannot_write(field, repr(given), exc) from None
        return
    remove_stale_temporaries(target)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.pid{os.getpid()}-", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(field, repr(given), exc) from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp_name, target.stat().st_mode & 0o777)
        os.replace(tmp_name, target)
    except BaseException as exc:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            # e.g. disk full, or a path the OS cannot follow ('missing/../report.csv'): the user's to fix.
            raise _cannot_write(field, repr(given), exc) from None
        raise


def process_gone(pid: int) -> bool:
    """Has process `pid` ended? (It names the temporary files a crm process writes.)"""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # PermissionError: it exists (another user's)
    return False


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporary files `.NAME.pidPID-XXXX.tmp` that a killed run writing `target` left beside it
    (its pid gone; this user's regular files only): a killed `export` would otherwise leave a hidden copy
    of the data. A run still writing keeps its file, its pid being alive."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.pid(?P<pid>[0-9]+)-[A-Za-z0-9_]+\.tmp")
    removed: list[Path] = []
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        if not match or not process_gone(int(match["pid"])):
            continue
        path = target.parent / entry
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid():
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # removed by another run meanwhile, or a read-only folder: nothing to do
    return removed


def settle(stream: TextIO) -> None:
    """Push what was written so far to its file (fsync) or pipe, so that a write error (a full disk,
    a closed reader) shows before the command commits rather than after."""
    try:
        stream.flush()
        if stream is not sys.stdout and stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            os.fsync(stream.fileno())
    except BrokenPipeError:
        raise OutputClosed() from None
    except OSError as exc:
        raise _cannot_write("output", "standard output" if stream is sys.stdout else repr(stream.name), exc) from None


def render(
    rows: Iterable[dict[str, Any]],
    cols: Sequence[Column],
    *,
    fmt: str | None = None,
    output: Path | None = None,
    title: str | None = None,
) -> str:
    """Write rows in the chosen format. Returns the format used."""
    chosen = choose_format(fmt, output)
    with destination(output) as stream:
        write(chosen, rows, cols, stream, title=title, is_terminal=output is None and stream.isatty())
    return chosen


def write(chosen: str, rows: Iterable[dict[str, Any]], cols: Sequence[Column], stream: TextIO, *,
          title: str | None = None, is_terminal: bool = False) -> None:
    """Rows in format `chosen` onto an open stream (render() opens the stream for you)."""
    if chosen == "csv":
        write_csv(rows, cols, stream)
    elif chosen == "json":
        write_json(rows, cols, stream)
    elif chosen == "jsonl":
        write_jsonl(rows, cols, stream)
    else:
        write_table(rows, cols, stream, title=title, is_terminal=is_terminal)


def render_to_string(rows: Iterable[dict[str, Any]], cols: Sequence[Column], fmt: str) -> str:
    """The same output as text (for tests and for the Python API)."""
    buffer = io.StringIO()
    {"csv": write_csv, "json": write_json, "jsonl": write_jsonl}.get(fmt, write_table)(rows, cols, buffer)
    return buffer.getvalue()
