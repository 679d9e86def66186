"""`crm feedback ...`: complaints, compliments and suggestions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from crmcli import customers, db, feedback
from crmcli.cli import imports as import_options
from crmcli.cli.common import (
    CrmGroup,
    FormatOption,
    ListLimitOption,
    OutputOption,
    connection,
    list_limit,
    note,
    render,
    say,
    write_transaction,
)
from crmcli.cli.listing import ColumnsOption, SortOption, View, WideOption

app = typer.Typer(cls=CrmGroup, help="Log complaints, compliments and suggestions; resolve complaints.",
                  no_args_is_help=True)

# Built from feedback.FEEDBACK_TYPES, the one list of types; mypy reads members only from a literal list.
FeedbackType = StrEnum("FeedbackType", {name: name for name in feedback.FEEDBACK_TYPES})  # type: ignore[misc]


@app.command("add")
def add(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(
        metavar="REF", help="Customer id, email, external id, phone number or name (accents optional).",
        show_default=False)],
    type_: Annotated[FeedbackType, typer.Option("--type", "-t", help="Kind of feedback.", show_default=False)],
    rating: Annotated[str | None, typer.Option(help="Rating from 1 (worst) to 5 (best).")] = None,
    category: Annotated[str | None, typer.Option(help="e.g. delivery, quality, price, service, staff.")] = None,
    by: Annotated[str | None, typer.Option(help="Staff member it concerns or who took it.")] = None,
    note_: Annotated[str | None, typer.Option("--note", help="What the customer said.")] = None,
    at: Annotated[str | None, typer.Option(help="When (default now); not in the future.")] = None,
) -> None:
    """Log feedback from a customer and print its id. Complaints stay open until resolved."""
    conn = connection(ctx)
    with write_transaction(conn):
        customer_id = customers.resolve(conn, ref)
        new_id = feedback.add(conn, customer_id, type_.value, rating=rating, category=category, by=by,
                              note=note_, at=at)
        say(new_id)


@app.command("list")
def list_(
    ctx: typer.Context,
    open_: Annotated[bool, typer.Option("--open", help="Only complaints not yet resolved.")] = False,
    type_: Annotated[FeedbackType | None, typer.Option("--type", "-t", help="Only this kind.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer (id, email, phone or name).")] = None,
    limit: ListLimitOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List feedback, newest first."""
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    limit = list_limit(limit, fmt, output)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):
        customer_id = customers.resolve_optional(conn, customer)
        rows = feedback.list_feedback(conn, open_only=open_, type=type_.value if type_ else None,
                                      customer_id=customer_id, limit=view.fetch_limit(limit))
    # The notes are sentences: under their row. On a narrow terminal the customer's name and the dates go first.
    priority = {"customer_name": 1, "rating": 2, "category": 3, "by": 4, "resolved_at": 5, "resolution_days": 6,
                "customer_id": 7}
    empty = ("No feedback matches." if open_ or type_ or customer else
             "No feedback yet: `crm feedback add REF complaint --note TEXT` logs a complaint; `crm demo` loads "
             "a sample shop.")
    render(rows, columns(*feedback.LIST_COLUMNS, numeric=("id", "customer_id", "rating", "resolution_days"),
                         priority=priority, sentences=("note", "resolution_note")),
           fmt, output, title="Feedback", limit=limit, view=view, empty=empty)


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    feedback_id: Annotated[int, typer.Argument(metavar="ID", help="The complaint's id.", show_default=False)],
    note_: Annotated[str | None, typer.Option("--note", help="How it was resolved.")] = None,
) -> None:
    """Mark a complaint resolved; the time it took is kept."""
    conn = connection(ctx)
    with write_transaction(conn):
        result = feedback.resolve(conn, feedback_id, note=note_)
    note(f"complaint {feedback_id} resolved after {result['resolution_days']} days")


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
    """Import feedback from CSV or JSON Lines: customer_id|customer_external_id|customer_email, type, rating,
    category, by, note, at, resolved_at, resolution_note, external_id."""
    import_options.run_import(ctx, "feedback", file, delimiter=delimiter, date_format=date_format,
                              skip_invalid=skip_invalid, rejects=rejects, dry_run=dry_run,
                              create_missing=create_missing, fmt=fmt, mapping=mapping, ignore_extra=ignore_extra)
