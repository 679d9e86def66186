"""What an import is asked to do (Options), what it did (Result, summary), and how it fails whole (ImportFailed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crmcli.errors import CrmError, InvalidInput

KINDS = ("customers", "interactions", "feedback")
ON_CONFLICT = ("skip", "update", "fail")
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


Progress = Callable[[int, int], None]  # (rows read, bytes read)


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
