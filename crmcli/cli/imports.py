"""`crm import list|undo`, and the import commands' shared options and runner.

`crm customer import`, `crm interaction import` and `crm feedback import` are
defined with their nouns (cli/customer.py etc.); each is a few lines that call
run_import() here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer

from crmcli import db
from crmcli.cli.common import (
    CrmGroup,
    FormatOption,
    ListLimitOption,
    OutputOption,
    connection,
    list_limit,
    note,
    render,
    write_transaction,
)
from crmcli.cli.listing import ColumnsOption, SortOption, View, WideOption
from crmcli.errors import CrmError, InvalidInput

app = typer.Typer(cls=CrmGroup, help="List import batches, and undo one.", no_args_is_help=True)


class OnConflict(StrEnum):
    skip = "skip"
    update = "update"
    fail = "fail"


class InputFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


FileArgument = Annotated[str, typer.Argument(
    metavar="FILE", help="CSV file with a header row (UTF-8, with or without BOM), or JSON Lines (.jsonl); - reads "
    "stdin.", show_default=False)]
InputFormatOption = Annotated[InputFormat | None, typer.Option(
    "--format", "-f", case_sensitive=False, help="csv, or jsonl (JSON Lines: one object a line, as `crm export "
    "--format jsonl` writes). Default: jsonl for a .jsonl or .ndjson file, csv otherwise (stdin too).")]
MapOption = Annotated[list[str] | None, typer.Option(
    "--map", metavar="FILE_COLUMN=CRM_COLUMN", help="Rename the file's columns to crm's, e.g. --map "
    "'E-mail=email,Naam=name' (repeatable; a name with a comma or quote in double quotes, CSV style; 'id=' leaves "
    "a column out).", show_default=False)]
IgnoreExtraOption = Annotated[bool, typer.Option(
    "--ignore-extra", help="Leave out columns crm does not import (listed in a note) instead of refusing the file, "
    "e.g. for `crm customer list` output.")]
DelimiterOption = Annotated[str | None, typer.Option(
    "--delimiter", "-d", help="Cell separator: , ; | or tab. Default: detected from the header (comma, "
    "semicolon or tab).")]
DateFormatOption = Annotated[str | None, typer.Option(
    "--date-format", help="How the file writes dates, as strptime codes, e.g. '%d/%m/%Y' or "
    "'%m/%d/%Y %H:%M'. Default ISO 8601 (YYYY-MM-DD[THH:MM[:SS]]).")]
SkipInvalidOption = Annotated[bool, typer.Option(
    "--skip-invalid", help="Import the good rows; write the bad ones, with an error column, to --rejects.")]
RejectsOption = Annotated[Path | None, typer.Option(
    "--rejects", help="With --skip-invalid: the file the bad rows go to (CSV, or JSON Lines for a JSON Lines "
    "import).", dir_okay=False)]
DryRunOption = Annotated[bool, typer.Option(
    "--dry-run", help="Check everything and report what would happen; write nothing.")]
OnConflictOption = Annotated[OnConflict, typer.Option(
    "--on-conflict", help="A row whose external_id (else email) is already a customer: skip it, update the "
    "customer from its filled cells, or fail.")]
CreateMissingOption = Annotated[bool, typer.Option(
    "--create-missing", help="Create customers the file names by customer_external_id or customer_email "
    "that are not there yet (named by customer_name).")]


def run_import(
    ctx: typer.Context,
    kind: str,
    file: str,
    *,
    delimiter: str | None,
    date_format: str | None,
    skip_invalid: bool,
    rejects: Path | None,
    dry_run: bool,
    on_conflict: OnConflict = OnConflict.skip,
    create_missing: bool = False,
    fmt: InputFormat | None = None,
    mapping: list[str] | None = None,
    ignore_extra: bool = False,
) -> None:
    from crmcli.transfer import imports

    options = imports.Options(delimiter=delimiter, date_format=date_format, on_conflict=on_conflict.value,
                              create_missing=create_missing, skip_invalid=skip_invalid, dry_run=dry_run,
                              columns=imports.parse_map(mapping or ()), ignore_extra=ignore_extra,
                              format=imports.format_of(fmt.value if fmt else None, file))
    if rejects is not None and not skip_invalid:
        raise InvalidInput("rejects", str(rejects), "is only used with --skip-invalid")
    if skip_invalid and rejects is None:
        raise InvalidInput("skip-invalid", "", "needs --rejects FILE, so that no row is dropped without a trace")
    if rejects is not None and file != "-" and Path(file).exists() and Path(rejects).exists() \
            and os.path.samefile(file, rejects):
        raise InvalidInput("rejects", str(rejects), "is the file being imported")
    conn = connection(ctx)
    # The import opens the rejects file and closes it (written whole) before it commits.
    rejects_to = partial(_rejects_file, rejects) if rejects is not None else None
    with _open(file) as (stream, size), _progress_bar(kind, size) as progress:
        result = imports.import_csv(conn, kind, stream, source=file, options=options, rejects_to=rejects_to,
                                    progress=progress)
    if result.ignored_columns:
        note(_left_out(result.ignored_columns, truncated=result.ignored_truncated))
    note(imports.summary(result))
    if result.rejected:
        note(f"the {result.rejected} rejected rows are in {rejects}; fix them there and import that file again")


def _left_out(names: list[str], *, truncated: bool = False, shown: int = 20) -> str:
    """The --ignore-extra note: the columns left out, the first `shown` of them by name."""
    more = len(names) - shown if len(names) > shown else 0
    listed = ", ".join(names[:shown]) + (f" and {'at least ' if truncated else ''}{more} more" if more else "")
    counted = ("at least " if truncated else "") + _counted(len(names), "column")
    return f"note: left out {counted} crm does not import (--ignore-extra): {listed}"


@contextmanager
def _rejects_file(path: Path) -> Iterator[TextIO]:
    """output.destination (a temporary file renamed into place, a device written in place), its
    errors naming --rejects rather than --output."""
    from crmcli.output import destination

    with destination(path, field="rejects") as handle:
        yield handle


@contextmanager
def _open(file: str) -> Iterator[tuple[BinaryIO, int | None]]:
    if file == "-":
        yield sys.stdin.buffer, None
        return
    path = Path(file).expanduser()
    try:
        handle = open(path, "rb")  # noqa: SIM115 (`with handle` below closes it; only open's own errors are caught)
    except FileNotFoundError:
        raise InvalidInput("file", file, "does not exist") from None
    except IsADirectoryError:
        raise InvalidInput("file", file, "is a folder; give a CSV file") from None
    except OSError as exc:
        raise CrmError(f"file: cannot read {file!r}: {exc.strerror}") from None
    with handle:
        yield handle, os.fstat(handle.fileno()).st_size


def _quiet() -> bool:
    """-q/--quiet (cli/common.py sets it for the command) hides the progress bar as it hides notes.
    Looked up by name: the flag's accessor is cli/common.py's to name; until it exists, never quiet."""
    from crmcli.cli import common

    quiet = getattr(common, "is_quiet", None) or getattr(common, "_quiet", None)
    return bool(quiet()) if callable(quiet) else False


def _wants_progress() -> bool:
    """A bar only for a person watching: stderr a terminal, and not --quiet. Never in pipes or cron."""
    try:
        return sys.stderr.isatty() and not _quiet()
    except (AttributeError, ValueError):  # stderr replaced, or closed
        return False


@contextmanager
def _progress_bar(kind: str, size: int | None):
    """A progress bar on stderr when _wants_progress(); otherwise nothing at all. The import calls it
    once per chunk taken (2,000 rows), from the main process, so it costs nothing per row."""
    if not _wants_progress():
        yield None
        return
    # rich's progress module is imported only here: pipes and cron jobs never load it.
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(f"importing {kind}"), BarColumn(), DownloadColumn(), TimeRemainingColumn()] \
        if size else [TextColumn(f"importing {kind}: {{task.completed:,}} rows")]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(kind, total=size)
        yield lambda rows, bytes_read: bar.update(task, completed=bytes_read if size else rows)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: ListLimitOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List import batches, newest first: what each added, updated, skipped and rejected."""
    from crmcli.output import columns
    from crmcli.transfer import imports

    conn = connection(ctx, create=False)
    limit = list_limit(limit, fmt, output)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):
        rows = imports.list_batches(conn, limit=view.fetch_limit(limit))
    priority = {"customers_created": 1, "undone_at": 2, "rows_read": 3, "updated": 3, "skipped": 4, "started_at": 5,
                "kind": 6}
    render(rows, columns(*imports.BATCH_COLUMNS, numeric=("id", "rows_read", "added", "updated", "skipped",
                                                         "rejected", "customers_created"), priority=priority),
           fmt, output, title="Import batches", limit=limit, view=view,
           empty="No imports yet: `crm customer import FILE.csv` imports customers (see examples/).")


@app.command("undo")
def undo(
    ctx: typer.Context,
    batch: Annotated[int, typer.Argument(metavar="BATCH", help="The batch id (see `crm import list`).",
                                         show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Also delete what other imports or people have since "
                                        "added to this batch's customers (interactions, feedback, follow-ups, tags, "
                                        "customers merged into them).")] = False,
) -> None:
    """Remove everything an import batch added (customers it updated keep their new values)."""
    from crmcli.transfer import imports

    conn = connection(ctx)
    with write_transaction(conn):
        removed = imports.undo(conn, batch, force=force)
    counted = [_counted(removed["customers"], "customer"), _counted(removed["interactions"], "interaction"),
               f"{removed['feedback']} feedback", _counted(removed["followups"], "follow-up"),
               _counted(removed["tags"], "tag")]
    note(f"import batch {batch} undone: removed {', '.join(counted)}")
    if removed["updated_not_undone"]:
        note(f"note: the {removed['updated_not_undone']} customers this batch updated keep their new values")


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"
