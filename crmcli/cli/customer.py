"""`crm customer ...`: add, list, show, edit, delete."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from crmcli import customers, db
from crmcli.cli.common import (
    CrmGroup, FormatOption, ListLimitOption, OutputOption, connection, is_interactive, list_limit, note, render,
)
from crmcli.errors import CrmError

app = typer.Typer(cls=CrmGroup, help="Add, find, show, edit and delete customers.", no_args_is_help=True)

Ref = Annotated[str, typer.Argument(metavar="REF", help="Customer id, email, or name.", show_default=False)]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Full name.", show_default=False)],
    email: Annotated[Optional[str], typer.Option(help="Email address (unique, case-insensitive).")] = None,
    phone: Annotated[Optional[str], typer.Option(help="Phone number, kept exactly as typed.")] = None,
    company: Annotated[Optional[str], typer.Option(help="Company name.")] = None,
    tag: Annotated[Optional[list[str]], typer.Option("--tag", help="A tag; repeat for more.")] = None,
    note_: Annotated[Optional[str], typer.Option("--note", help="Free-text note.")] = None,
    external_id: Annotated[Optional[str], typer.Option(help="Id in another system (till, web shop).")] = None,
    since: Annotated[Optional[str], typer.Option(help="Customer since DATE (default today).")] = None,
) -> None:
    """Add a customer and print the new id."""
    conn = connection(ctx)
    with db.transaction(conn):
        new_id = customers.add(conn, name, email=email, phone=phone, company=company, tags=tag or [],
                               note=note_, external_id=external_id, since=since)
    typer.echo(new_id)


@app.command("list")
def list_(
    ctx: typer.Context,
    tag: Annotated[Optional[str], typer.Option(help="Only customers with this tag.")] = None,
    search: Annotated[Optional[str], typer.Option(help="Text in name, email, phone or company (any case).")] = None,
    limit: ListLimitOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """List customers with their purchase totals."""
    from crmcli.output import columns

    conn = connection(ctx)
    limit = list_limit(limit, fmt, output)
    with db.snapshot(conn):
        rows = customers.list_customers(conn, tag=tag, search=search, limit=limit)
    render(rows, columns(*customers.LIST_COLUMNS, numeric=("id", "purchases", "revenue", "open_complaints")),
           fmt, output, title="Customers", limit=limit)


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Ref,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Show one customer: profile, tags, purchase stats, open complaints and recent timeline."""
    from crmcli.cli import views

    conn = connection(ctx)
    with db.snapshot(conn):
        customer_id = customers.resolve(conn, ref)
        record = customers.profile(conn, customer_id)
        record["scores"] = views.customer_scores(conn, customer_id)
    views.show_profile(record, fmt, output)


@app.command("edit")
def edit(
    ctx: typer.Context,
    ref: Ref,
    name: Annotated[Optional[str], typer.Option(help="New name.")] = None,
    email: Annotated[Optional[str], typer.Option(help="New email ('' clears it).")] = None,
    phone: Annotated[Optional[str], typer.Option(help="New phone ('' clears it).")] = None,
    company: Annotated[Optional[str], typer.Option(help="New company ('' clears it).")] = None,
    add_tag: Annotated[Optional[list[str]], typer.Option("--add-tag", help="Add a tag; repeatable.")] = None,
    remove_tag: Annotated[Optional[list[str]], typer.Option("--remove-tag", help="Remove a tag; repeatable.")] = None,
    note_: Annotated[Optional[str], typer.Option("--note", help="New note ('' clears it).")] = None,
) -> None:
    """Change a customer's details or tags."""
    conn = connection(ctx)
    with db.transaction(conn):
        customer_id = customers.resolve(conn, ref)
        record = customers.edit(conn, customer_id, name=name, email=email, phone=phone, company=company,
                                note=note_, add_tags=add_tag or [], remove_tags=remove_tag or [])
    note(f"updated customer {record['id']} ({record['name']})")


@app.command("delete")
def delete(
    ctx: typer.Context,
    ref: Ref,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required when not on a terminal.")] = False,
) -> None:
    """Delete a customer with all their interactions and feedback."""
    conn = connection(ctx)
    with db.snapshot(conn):
        customer_id = customers.resolve(conn, ref)
        record = customers.get(conn, customer_id)
    if not yes:
        if not is_interactive():
            raise CrmError("delete: not on a terminal, so not asking; add --yes to delete without asking")
        if not typer.confirm(f"Delete customer {customer_id} ({record['name']}) and all their history?"):
            note("nothing deleted")
            raise typer.Exit(1)
    with db.transaction(conn):
        removed = customers.delete(conn, customer_id)
    note(f"deleted customer {customer_id} ({record['name']}) with {removed['interactions']} interactions "
         f"and {removed['feedback']} feedback")
