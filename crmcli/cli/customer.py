"""`crm customer ...`: add, list, show, edit, delete."""

from __future__ import annotations

import sqlite3
from typing import Annotated, cast

import typer

from crmcli import customers, db
from crmcli.cli import imports as import_options
from crmcli.cli.common import (
    CrmGroup,
    FormatOption,
    ListLimitOption,
    OutputOption,
    confirm,
    connection,
    list_limit,
    note,
    render,
    say,
    write_transaction,
)
from crmcli.cli.listing import ColumnsOption, SortOption, View, WideOption

app = typer.Typer(cls=CrmGroup, help="Add, find, show, edit and delete customers.", no_args_is_help=True)

Ref = Annotated[str, typer.Argument(metavar="REF", show_default=False,
                                    help="Customer id, email, external id, phone number or name (accents optional).")]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Full name.", show_default=False)],
    email: Annotated[str | None, typer.Option(help="Email address (unique, case-insensitive).")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone number, kept exactly as typed.")] = None,
    company: Annotated[str | None, typer.Option(help="Company name.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag; repeat for more.")] = None,
    note_: Annotated[str | None, typer.Option("--note", help="Free-text note.")] = None,
    external_id: Annotated[str | None, typer.Option(help="Id in another system (till, web shop).")] = None,
    since: Annotated[str | None, typer.Option(help="Customer since DATE (default today).")] = None,
) -> None:
    """Add a customer and print the new id."""
    conn = connection(ctx)
    with write_transaction(conn):
        new_id = customers.add(conn, name, email=email, phone=phone, company=company, tags=tag or [],
                               note=note_, external_id=external_id, since=since)
        alikes = customers.look_alikes(conn, new_id)
        say(new_id)
    if alikes:
        listed = "; ".join(f"{a['id']} {a['name']}" + (f" <{a['email']}>" if a["email"] else "") + f" ({a['reason']})"
                           for a in alikes[:5])
        more = f" and {len(alikes) - 5} more" if len(alikes) > 5 else ""
        note(f"note: customer {new_id} may be the same person as {listed}{more}; see crm customer duplicates")


@app.command("list")
def list_(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option(help="Only customers with this tag.")] = None,
    search: Annotated[str | None, typer.Option(
        help="Words in the name, email or company, in any order, case and accents ignored (nguyen finds "
        "Nguyễn); or a phone number in any form.")] = None,
    limit: ListLimitOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List customers with their purchase totals."""
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    limit = list_limit(limit, fmt, output)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):
        rows = customers.list_customers(conn, tag=tag, search=search, limit=view.fetch_limit(limit))
    empty = ("No customers match." if search or tag else
             "No customers yet: `crm demo` loads a sample shop; `crm customer add NAME` adds one.")
    render(rows, columns(*customers.LIST_COLUMNS, numeric=("id", "purchases", "revenue", "open_complaints",
                                                          "purchase_records"),
                         table=customers.LIST_COLUMNS[:-1], priority=_LIST_PRIORITY),
           fmt, output, title="Customers", limit=limit, view=view, empty=empty,
           see_also="crm customer show ID shows one customer whole, --wide every column, --format csv every value")


# On a narrow terminal: id and name always; then what identifies and what sums up a customer.
_LIST_PRIORITY = {"email": 1, "revenue": 2, "phone": 3, "last_purchase": 4, "purchases": 5, "open_complaints": 6,
                  "company": 7, "tags": 8, "since": 9}


@app.command("show")
def show(
    ctx: typer.Context,
    ref: Ref,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Show one customer: profile, tags, purchase stats, open complaints, open follow-ups and recent timeline."""
    from crmcli import followups
    from crmcli.cli import views

    conn = connection(ctx, create=False)
    with db.snapshot(conn):
        customer_id = customers.resolve(conn, ref)
        record = customers.profile(conn, customer_id)
        record["open_followups"] = followups.open_for_customer(conn, customer_id)
        record["scores"] = views.customer_scores(conn, customer_id)
    views.show_profile(record, fmt, output)
    # Only once the profile is written: a show that fails (its --output unwritable) leaves the database as it was.
    views.keep_scores_fits(conn, record["scores"])


@app.command("edit")
def edit(
    ctx: typer.Context,
    ref: Ref,
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    email: Annotated[str | None, typer.Option(help="New email ('' clears it).")] = None,
    phone: Annotated[str | None, typer.Option(help="New phone ('' clears it).")] = None,
    company: Annotated[str | None, typer.Option(help="New company ('' clears it).")] = None,
    add_tag: Annotated[list[str] | None, typer.Option("--add-tag", help="Add a tag; repeatable.")] = None,
    remove_tag: Annotated[list[str] | None, typer.Option("--remove-tag", help="Remove a tag; repeatable.")] = None,
    note_: Annotated[str | None, typer.Option("--note", help="New note ('' clears it).")] = None,
) -> None:
    """Change a customer's details or tags."""
    conn = connection(ctx)
    with write_transaction(conn):
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
        confirm("delete", f"Delete customer {customer_id} ({record['name']}) and all their history?",
                without_asking="delete without asking", declined="nothing deleted")
    with write_transaction(conn):
        removed = customers.delete(conn, customer_id)
    note(f"deleted customer {customer_id} ({record['name']}) with {removed['interactions']} interactions "
         f"and {removed['feedback']} feedback")


@app.command("import")
def import_(
    ctx: typer.Context,
    file: import_options.FileArgument,
    on_conflict: import_options.OnConflictOption = import_options.OnConflict.skip,
    delimiter: import_options.DelimiterOption = None,
    date_format: import_options.DateFormatOption = None,
    skip_invalid: import_options.SkipInvalidOption = False,
    rejects: import_options.RejectsOption = None,
    dry_run: import_options.DryRunOption = False,
    fmt: import_options.InputFormatOption = None,
    mapping: import_options.MapOption = None,
    ignore_extra: import_options.IgnoreExtraOption = False,
) -> None:
    """Import customers from CSV or JSON Lines: name, email, phone, company, tags, note, external_id, since (and id)."""
    import_options.run_import(ctx, "customers", file, delimiter=delimiter, date_format=date_format,
                              skip_invalid=skip_invalid, rejects=rejects, dry_run=dry_run, on_conflict=on_conflict,
                              fmt=fmt, mapping=mapping, ignore_extra=ignore_extra)


@app.command("duplicates")
def duplicates(
    ctx: typer.Context,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List likely duplicate customers: same email, same phone, same or very similar name."""
    from crmcli import duplicates as dupes
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    with db.snapshot(conn):
        rows = dupes.find(conn)
    render(rows, columns(*dupes.COLUMNS, numeric=("customer_id", "duplicate_id"),
                         priority={"email": 2, "duplicate_email": 2, "phone": 3, "duplicate_phone": 3}),
           fmt, output, title="Likely duplicates (merge with: crm customer merge KEEP DUP)",
           view=View(columns_, sort, wide), empty="No likely duplicates.")


@app.command("merge")
def merge(
    ctx: typer.Context,
    keep: Annotated[str, typer.Argument(metavar="KEEP", help="The customer to keep (id, email or name).",
                                        show_default=False)],
    duplicate: Annotated[str, typer.Argument(metavar="DUP", help="The duplicate, folded into KEEP and deleted.",
                                             show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required when not on a terminal.")] = False,
) -> None:
    """Merge DUP into KEEP: history and tags move, empty fields are filled, DUP is deleted. One transaction."""
    from crmcli import duplicates as dupes

    conn = connection(ctx)
    with db.snapshot(conn):
        keep_id, duplicate_id = customers.resolve(conn, keep), customers.resolve(conn, duplicate)
        kept, removed = customers.get(conn, keep_id), customers.get(conn, duplicate_id)
    if not yes and keep_id != duplicate_id:
        confirm("merge", f"Merge customer {duplicate_id} ({removed['name']}) into {keep_id} "
                f"({kept['name']}) and delete {duplicate_id}?",
                without_asking="merge without asking", declined="nothing merged")
    with write_transaction(conn):
        result = dupes.merge(conn, keep_id, duplicate_id)
    filled = f"; filled {', '.join(result['filled'])}" if result["filled"] else ""
    note(f"merged customer {result['removed']} ({result['removed_name']}) into {result['kept']} "
         f"({result['kept_name']}): moved {result['interactions']} interactions, {result['feedback']} feedback, "
         f"{result['tags']} tags{filled}")


@app.command("history")
def history_(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", show_default=False,
                                       help="Customer id, email, phone or name; a deleted customer's id too.")],
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """Every change to a customer (add, edit, merge, delete, forget), one row per field, with old and new values."""
    from crmcli import history
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    with db.snapshot(conn):
        customer_id = history.resolve(conn, ref)
        rows = history.for_customer(conn, customer_id)
    render(rows, columns(*history.COLUMNS, numeric=("customer_id",), priority={"customer_id": 1}), fmt, output,
           title=f"History of customer {customer_id}", view=View(columns_, sort, wide))
    if not rows:
        # Only customers added before this database was upgraded to keep a history.
        note(f"no changes recorded for customer {customer_id}: changes are recorded from the upgrade "
             "that added history on")


@app.command("forget")
def forget(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(metavar="REF", show_default=False,
                                       help="Customer id, email, phone or name; a deleted customer's id too.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required when not on a terminal.")] = False,
) -> None:
    """Erase a person's personal data for good; their anonymous purchases stay so totals stay right."""
    from crmcli import history

    conn = connection(ctx)
    with db.snapshot(conn):
        customer_id = history.resolve(conn, ref)
    if not yes:
        confirm("forget", f"Erase customer {customer_id}'s name, contact details, notes, tags and history values "
                "for good?", without_asking="erase without asking", declined="nothing erased")
    with write_transaction(conn):
        erased = history.forget(conn, customer_id)
    if db.is_server(conn):
        from crmcli import postgres

        postgres.vacuum(conn, history.ERASED_TABLES)  # the old row versions, with the erased text, go too
        note(_forget_summary(erased))
        note("note: the server's write-ahead log, its replicas and base backups may still hold the erased text "
             "until they are recycled (README, \"Sharing one customer base\")")
        return
    if not db.truncate_wal(cast(sqlite3.Connection, conn)):
        note("note: another program is reading the database, so the erased text may stay in its "
             "write-ahead log (the -wal file) until that program finishes")
    note(_forget_summary(erased))
    _note_unfinished_backups(ctx)


def _note_unfinished_backups(ctx: typer.Context) -> None:
    """A killed `crm backup` beside the database leaves a hidden full copy that forget cannot reach."""
    from crmcli.cli.common import state
    from crmcli.transfer import backup

    copies = backup.unfinished_copies(state(ctx).path.parent)
    if copies:
        note(f"note: unfinished backup copies beside the database still hold this person's data "
             f"({', '.join(map(str, copies))}), left by a `crm backup` that was killed or is still running: delete "
             "them once no backup is running (the next `crm backup` into that folder removes those of killed ones)")


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _forget_summary(erased: dict) -> str:
    """What history.forget erased, in one line for the person who asked."""
    from crmcli import history

    labels = {"interactions": "interaction note", "feedback": "feedback note", "followups": "follow-up note"}
    text_counts = ", ".join(_counted(erased[t], labels[t]) for t in history.ERASED_TEXT if erased.get(t))
    what = (f"name, contact details, note and {_counted(erased['tags'], 'tag')}" if erased["customer"]
            else "the history of a deleted customer")
    merged = f"; also {_counted(erased['merged_records'], 'merged record')}" if erased["merged_records"] else ""
    return (f"forgot customer {erased['customer_id']}: erased {what}"
            f"{'; ' + text_counts if text_counts else ''}; {_counted(erased['history'], 'history value')}{merged}. "
            "Backups made before now still hold this person's data.")
