"""Top-level commands that move the data as a whole: export, backup, restore."""

from __future__ import annotations

import sqlite3
from enum import StrEnum
from pathlib import Path
from typing import Annotated, cast

import typer

from crmcli.cli.common import confirm, connection, note, state


class What(StrEnum):
    customers = "customers"
    interactions = "interactions"
    feedback = "feedback"
    all = "all"


class ExportFormat(StrEnum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"


def export(
    ctx: typer.Context,
    what: Annotated[What, typer.Argument(metavar="WHAT",
                                         help="customers, interactions, feedback, or all (needs --output DIR).")]
    = What.all,
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="csv (the import format), tsv or jsonl.")]
    = ExportFormat.csv,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="A file, or a folder (written into as customers.csv etc.). Default stdout; "
        "`all` needs a folder. Files are written atomically.")] = None,
) -> None:
    """Export data in the import format: importing an export into an empty database gives it back."""
    from crmcli.transfer import exports

    conn = connection(ctx, create=False)
    written = exports.export(conn, what.value, fmt=fmt.value, output=output)
    if output is not None:
        note("exported to " + ", ".join(str(path) for path in written))


def backup(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Backup file to write, or a folder (crm-YYYYMMDD-HHMMSS.db in it).",
                                         show_default=False)],
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
) -> None:
    """Write a consistent copy of the database (safe while others use it); readable by you only."""
    from crmcli.transfer import backup as backups

    database = state(ctx).path  # a file: a server is backed up by pg_dump (State.path says so)
    conn = cast(sqlite3.Connection, connection(ctx, create=False))
    written = backups.backup(conn, database, path, force=force)
    note(f"backed up {database} to {written}")


def restore(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A backup made by `crm backup` (any crmcli database).",
                                         show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required when not on a terminal.")] = False,
) -> None:
    """Replace the database with a backup; the current one is kept aside first."""
    from crmcli.transfer import backup as backups

    target = state(ctx).path
    info = backups.inspect(path, target)
    if not yes:
        confirm("restore", f"Replace {target} with {path} ({info['customers']} customers, "
                f"{info['interactions']} interactions)? The current database is kept aside.",
                without_asking="replace the database", declined="nothing restored")
    result = backups.restore(target, path)
    note(f"restored {path} into {target}: {result['customers']} customers, {result['interactions']} interactions")
    if result["aside"]:
        note(f"the previous database is kept in {result['aside']}")


def register(app: typer.Typer) -> None:
    app.command("export")(export)
    app.command("backup")(backup)
    app.command("restore")(restore)
