"""What an import is asked to do (Options), what it did (Result, summary), and how it fails whole (ImportFailed)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crmcli.errors import CrmError, InvalidInput

KINDS = ("customers", "interactions", "feedback")
ON_CONFLICT = ("skip", "update", "fail")
FORMATS = ("csv", "jsonl")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
MAX_LISTED_ERRORS = 20

# A moment whose year, month and day all differ from what strptime fills in for a missing one
# (1900, January, the 1st): a --date-format that loses one of them on the way out and back in
# does not name a whole date. Aware, so that %z and %Z have something to write.
_PROBE_MOMENT = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
_DATE_PARTS = (("year", "%Y or %y"), ("month", "%m, %b or %B"), ("day", "%d"))


class ImportFailed(CrmError):
    """Bad rows in an all-or-nothing import: the message lists them; nothing was written."""

    def __init__(self, source: str, errors: list[str], rows: int, problems: int):
        lines = [f"{source}: {rows} {'row has' if rows == 1 else 'rows have'} errors; nothing was imported "
                 "(fix them, or use --skip-invalid --rejects FILE)"]
        lines += [f"  {error}" for error in errors]
        if problems > len(errors):
            lines.append(f"  ... and {problems - len(errors)} more errors")
        super().__init__("\n".join(lines))
        self.errors = errors
        self.rows = rows


@dataclass(frozen=True)
class Options:
    delimiter: str | None = None  # None: detected from the header line
    date_format: str | None = None  # strptime format; None: ISO 8601
    on_conflict: str = "skip"  # customers matching one already there: skip, update or fail
    create_missing: bool = False  # interactions/feedback naming an unknown customer create it
    skip_invalid: bool = False
    dry_run: bool = False
    # --map: (the file's column, crm's column, or None to leave it out), as parse_map() reads them
    columns: tuple[tuple[str, str | None], ...] = ()
    ignore_extra: bool = False  # columns crm does not know are left out (Result.ignored_columns), not refused
    format: str = "csv"  # csv or jsonl (JSON Lines: one object a line)


@dataclass
class Result:
    kind: str
    source: str
    batch_id: int | None = None  # None after a dry run
    rows_read: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    customers_created: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first MAX_LISTED_ERRORS
    ignored_columns: list[str] = field(default_factory=list)  # left out by ignore_extra, as the file names them
    ignored_truncated: bool = False  # and more than those (a JSON Lines file of ever new keys)


Progress = Callable[[int, int], None]  # (rows read, bytes read)


def parse_map(texts: Iterable[str]) -> tuple[tuple[str, str | None], ...]:
    """--map values as (the file's column, crm's column or None) pairs; each value one or more
    FILE_COLUMN=CRM_COLUMN pairs separated by commas.

    Each value is read as one CSV line, so a column name with a comma or a double quote is written
    in double quotes, CSV style: '"Last, first"=name' (a quote inside one is doubled). crm's name is what follows
    the last '=' (crm's names never contain one), so the file's may contain '='. Nothing after the
    '=' ('id=') leaves that column out. Which names exist is checked against the file (header.py).
    """
    pairs: list[tuple[str, str | None]] = []
    for text in texts:
        try:
            cells = next(csv.reader([text], skipinitialspace=True), [])
        except csv.Error as exc:
            raise InvalidInput("map", text, f"is not a list of FILE_COLUMN=CRM_COLUMN pairs ({exc}); a name with a "
                               "comma or a quote goes in double quotes: '\"Last, first\"=name'") from None
        for cell in cells:
            if not cell.strip():
                continue  # 'a=b,' or an empty --map
            given, equals, target = cell.rpartition("=")
            if not equals or not given.strip():
                raise InvalidInput("map", cell, "is not FILE_COLUMN=CRM_COLUMN, e.g. 'E-mail=email' (or 'id=' to "
                                   "leave a column out)")
            pairs.append((given.strip(), target.strip().lower() or None))
    return tuple(pairs)


def format_of(given: str | None, source: str) -> str:
    """--format, or the file name's: .jsonl and .ndjson are JSON Lines, anything else (stdin too) CSV."""
    if given is not None:
        if given.lower() not in FORMATS:
            raise InvalidInput("format", given, "must be one of " + ", ".join(FORMATS))
        return given.lower()
    return "jsonl" if source.lower().endswith(JSONL_SUFFIXES) else "csv"


def check_date_format(fmt: str | None) -> None:
    """Refuse a --date-format that does not name a whole date: without a year strptime reads
    every date as 1900, without a day as the 1st of the month (README, "Importing")."""
    if fmt is None:
        return
    written = _PROBE_MOMENT.strftime(fmt)
    try:
        parsed = datetime.strptime(written, fmt)
    except ValueError as exc:
        raise InvalidInput("date-format", fmt, f"is not a strptime format ({exc}); use codes such as %d, %m, %Y, "
                           "%H and %M, e.g. '%d/%m/%Y'") from None
    found = (parsed.year == _PROBE_MOMENT.year, parsed.month == _PROBE_MOMENT.month, parsed.day == _PROBE_MOMENT.day)
    missing = [part for part, present in zip(_DATE_PARTS, found, strict=True) if not present]
    if missing:
        names = [name for name, _ in missing]
        what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise InvalidInput("date-format", fmt, f"has no {what} ({'; '.join(codes for _, codes in missing)}): it "
                           f"would read {written!r} as {parsed.date().isoformat()}; give the whole date, e.g. "
                           "'%d/%m/%Y'")


def summary(result: Result) -> str:
    """The one line an import prints on stderr."""
    would = "would be " if result.dry_run else ""
    parts = [f"{result.rows_read} rows read", f"{result.added} {would}added"]
    if result.kind == "customers":
        parts.append(f"{result.updated} {would}updated")
    parts.append(f"{result.skipped} skipped (already there)")
    parts.append(f"{result.rejected} rejected")
    if result.customers_created:
        parts.append(f"{result.customers_created} new customers {would}created")
    where = "dry run, nothing written" if result.dry_run else f"batch {result.batch_id}"
    return f"{result.kind} from {result.source}: " + ", ".join(parts) + f" ({where}, {result.seconds:.1f} s)"
