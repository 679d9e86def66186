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
from crmcli.errors import CrmError, InvalidInput

app = typer.Typer(cls=CrmGroup, help="List import batches, and undo one.", no_args_is_help=True)


class OnConflict(StrEnum):
    skip = "skip"
    update = "update"
    fail = "fail"


FileArgument = Annotated[str, typer.Argument(
    metavar="FILE", help="CSV file with a header row (UTF-8, with or without BOM); - reads stdin.",
    show_default=False)]
DelimiterOption = Annotated[str | None, typer.Option(
    "--delimiter", "-d", help="Cell separator: , ; | or tab. Default: detected from the header (comma, "
    "semicolon or tab).")]
DateFormatOption = Annotated[str | None, typer.Option(
    "--date-format", help="How the file writes dates, as strptime codes, e.g. '%d/%m/%Y' or "
    "'%m/%d/%Y %H:%M'. Default ISO 8601 (YYYY-MM-DD[THH:MM[:SS]]).")]
SkipInvalidOption = Annotated[bool, typer.Option(
    "--skip-invalid", help="Import the good rows; write the bad ones, with an error column, to --rejects.")]
RejectsOption = Annotated[Path | None, typer.Option(
    "--rejects", help="With --skip-invalid: the CSV file the bad rows go to.", dir_okay=False)]
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
) -> None:
    from crmcli.transfer import imports

    options = imports.Options(delimiter=delimiter, date_format=date_format, on_conflict=on_conflict.value,
                              create_missing=create_missing, skip_invalid=skip_invalid, dry_run=dry_run)
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
    note(imports.summary(result))
    if result.rejected:
        note(f"the {result.rejected} rejected rows are in {rejects}; fix them there and import that file again")


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


@contextmanager
def _progress_bar(kind: str, size: int | None):
    """A progress bar on stderr when stderr is a terminal; otherwise nothing at all."""
    if not sys.stderr.isatty():
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
) -> None:
    """List import batches, newest first: what each added, updated, skipped and rejected."""
    from crmcli.output import columns
    from crmcli.transfer import imports

    conn = connection(ctx)
    limit = list_limit(limit, fmt, output)
    with db.snapshot(conn):
        rows = imports.list_batches(conn, limit=limit)
    render(rows, columns(*imports.BATCH_COLUMNS, numeric=("id", "rows_read", "added", "updated", "skipped",
                                                         "rejected", "customers_created")),
           fmt, output, title="Import batches", limit=limit)


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
