"""`crm interaction ...`: record and list contacts, purchases and refunds."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from crmcli import customers, db, interactions
from crmcli.cli import imports as import_options
from crmcli.cli.common import (
    CrmGroup,
    FormatOption,
    ListLimitOption,
    OutputOption,
    connection,
    list_limit,
    render,
    say,
    write_transaction,
)
from crmcli.cli.listing import ColumnsOption, SortOption, View, WideOption

app = typer.Typer(cls=CrmGroup, help="Record and list purchases, refunds, calls, emails, meetings, visits.",
                  no_args_is_help=True)

# Built from interactions.INTERACTION_TYPES, the one list of types; mypy reads members only from a literal list.
InteractionType = StrEnum("InteractionType", {name: name for name in interactions.INTERACTION_TYPES})  # type: ignore[misc]


@app.command("add")
def add(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(
        metavar="REF", help="Customer id, email, external id, phone number or name (accents optional).",
        show_default=False)],
    type_: Annotated[InteractionType, typer.Option("--type", "-t", help="What happened.", show_default=False)],
    at: Annotated[str | None, typer.Option(help="When: YYYY-MM-DD, YYYY-MM-DDTHH:MM, today, yesterday. "
                                                   "Default now. Not in the future.")] = None,
    amount: Annotated[str | None, typer.Option(help="Amount, e.g. 49.90 (purchases and refunds only).")] = None,
    by: Annotated[str | None, typer.Option(help="Staff member who handled it.")] = None,
    note_: Annotated[str | None, typer.Option("--note", help="Free-text note.")] = None,
) -> None:
    """Record an interaction with a customer and print its id."""
    conn = connection(ctx)
    with write_transaction(conn):
        customer_id = customers.resolve(conn, ref)
        new_id = interactions.add(conn, customer_id, type_.value, at=at, amount=amount, by=by, note=note_)
        say(new_id)


@app.command("list")
def list_(
    ctx: typer.Context,
    ref: Annotated[str | None, typer.Argument(help="Only this customer (id, email, phone or name).",
                                                 show_default=False)] = None,
    type_: Annotated[InteractionType | None, typer.Option("--type", "-t", help="Only this type.")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (inclusive).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this date (inclusive).")] = None,
    limit: ListLimitOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List interactions, newest first."""
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    limit = list_limit(limit, fmt, output)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):
        customer_id = customers.resolve_optional(conn, ref)
        rows = interactions.list_interactions(conn, customer_id=customer_id, type=type_.value if type_ else None,
                                              since=since, until=until, limit=view.fetch_limit(limit))
    empty = ("No interactions match." if ref or type_ or since or until else
             "No interactions yet: `crm interaction add REF purchase --amount 12.50` records a sale; `crm demo` loads "
             "a sample shop.")
    render(rows, columns(*interactions.LIST_COLUMNS, numeric=("id", "customer_id", "amount"),
                         priority={"customer_id": 2, "by": 1}, sentences=("note",)),
           fmt, output, title="Interactions", limit=limit, view=view, empty=empty)


@app.command("import")
def import_(
    ctx: typer.Context,
    file: import_options.FileArgument,
    create_missing: import_options.CreateMissingOption = False,
    delimiter: import_options.DelimiterOption = None,
    date_format: import_options.DateFormatOption = None,
    skip_invalid: import_options.SkipInvalidOption = False,
    rejects: import_options.RejectsOption = None,
    dry_run: import_options.DryRunOption = False,
    fmt: import_options.InputFormatOption = None,
    mapping: import_options.MapOption = None,
    ignore_extra: import_options.IgnoreExtraOption = False,
) -> None:
    """Import interactions from CSV or JSON Lines: customer_id|customer_external_id|customer_email, type, at,
    amount, by, note, external_id."""
    import_options.run_import(ctx, "interactions", file, delimiter=delimiter, date_format=date_format,
                              skip_invalid=skip_invalid, rejects=rejects, dry_run=dry_run,
                              create_missing=create_missing, fmt=fmt, mapping=mapping, ignore_extra=ignore_extra)
