"""Top-level commands that are not a noun: demo, init and info."""

from __future__ import annotations

from typing import Annotated

import typer

from crmcli import customers as customers_module
from crmcli.cli.common import (
    FormatOption,
    OutputOption,
    connection,
    note,
    state,
    write_transaction,
)
from crmcli.errors import Conflict


def demo(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option("--customers", min=1, max=200_000,
                                           help="How many customers to make.")] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same business.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace all data in a database that is not empty.")] = False,
) -> None:
    """Fill the database with a realistic sample business (reproducible with --seed)."""
    from crmcli import demo as demo_module

    conn = connection(ctx)
    with write_transaction(conn):
        existing = customers_module.count(conn)
        if existing and not force:
            raise Conflict(f"demo: the database {state(ctx).where} already holds {existing} customers; "
                           "use --force to replace them, or --db to choose another file")
        counts = demo_module.fill(conn, count=customers, seed=seed, replace=force)
    note(f"demo business created in {state(ctx).where}: {counts['customers']} customers, "
         f"{counts['interactions']} interactions, {counts['feedback']} feedback")
    note("try: crm report best    crm report churn    crm customer list --search nguyễn")


def init(ctx: typer.Context) -> None:
    """Create an empty database (at --db, $CRM_DB or the default place) and say where; harmless if it exists."""
    from crmcli import db

    if state(ctx).server:
        conn = connection(ctx)  # a new, empty database on the server is made crm's as it opens
        with db.snapshot(conn):
            held = customers_module.count(conn)
        note(f"the crmcli database {state(ctx).where} is ready ({held} customers)")
        return
    path = state(ctx).path
    existed = path.exists()
    conn = connection(ctx)
    with db.snapshot(conn):
        held = customers_module.count(conn)
    if existed:
        note(f"a crmcli database already exists at {path} ({held} customers); left as it is")
    else:
        note(f"created an empty crmcli database at {path}")


def info(ctx: typer.Context, fmt: FormatOption = None, output: OutputOption = None) -> None:
    """Show the database path, schema version and counts."""
    from crmcli.cli.views import render_record
    from crmcli.reports.info import database_info

    record = database_info(connection(ctx, create=False), state(ctx).server or state(ctx).path)
    render_record(record, fmt, output, title="crm database")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("init")(init)
    app.command("info")(info)
