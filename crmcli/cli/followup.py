"""`crm followup ...` (add, list, done) and `crm agenda`, the morning to-do list."""

from __future__ import annotations

from typing import Annotated

import typer

from crmcli import customers, db, followups
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

app = typer.Typer(cls=CrmGroup, help="Follow-ups: promises to contact a customer by a date, open until done.",
                  no_args_is_help=True)

ByOption = Annotated[str | None, typer.Option("--by", help="Staff member (any case).")]


@app.command("add")
def add(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(
        metavar="REF", help="Customer id, email, external id, phone number or name (accents optional).",
        show_default=False)],
    due: Annotated[str, typer.Option("--due", help="YYYY-MM-DD, today, tomorrow or +N (days from today).",
                                     show_default=False)],
    note_: Annotated[str | None, typer.Option("--note", help="What to do or talk about.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Staff member who will do it.")] = None,
) -> None:
    """Schedule a follow-up with a customer and print its id."""
    conn = connection(ctx)
    with write_transaction(conn):
        customer_id = customers.resolve(conn, ref)
        new_id = followups.add(conn, customer_id, due, by=by, note=note_)
        say(new_id)


@app.command("list")
def list_(
    ctx: typer.Context,
    overdue: Annotated[bool, typer.Option("--overdue", help="Only those due before today.")] = False,
    due: Annotated[str | None, typer.Option(
        "--due", help="Only those due on or before DATE (today: everything to do today, overdue included).")] = None,
    by: ByOption = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer (id, email, phone or name).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include follow-ups already done.")] = False,
    limit: ListLimitOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List open follow-ups, soonest due first."""
    from crmcli.output import Column

    conn = connection(ctx, create=False)
    limit = list_limit(limit, fmt, output)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):
        customer_id = customers.resolve_optional(conn, customer)
        rows = followups.list_followups(conn, overdue=overdue, due=due, by=by, customer_id=customer_id,
                                        include_done=all_, limit=view.fetch_limit(limit))
    in_table = ("id", "customer_id", "customer_name", "phone", "due", "by", "note", "done_at")
    priority = {"phone": 1, "by": 2, "customer_id": 3, "done_at": 4}
    cols = [Column(key, "customer" if key == "customer_id" else "",
                   numeric=key in ("id", "customer_id", "days_overdue"), in_table=key in in_table,
                   priority=priority.get(key, 0), sentence=key in ("note", "done_note"))
            for key in followups.LIST_COLUMNS]
    # In a table, "due in 3 days" or "2 days overdue" in words beside the date; machine formats keep days_overdue.
    cols.insert(followups.LIST_COLUMNS.index("due") + 1, Column("when", machine=False))
    for row in rows:
        row["when"] = when(row.get("days_overdue"), row.get("done_at"))
    empty = ("No follow-ups match." if overdue or due or by or customer else
             "No open follow-ups: `crm followup add REF --due +7 --note TEXT` schedules one.")
    render(rows, cols, fmt, output, title="Follow-ups", limit=limit, view=view, empty=empty)


def when(days_overdue: int | None, done_at: str | None = None) -> str:
    """A follow-up's due date in words: 'due today', 'due in 1 day', '3 days overdue'."""
    if done_at or days_overdue is None:
        return "done" if done_at else ""
    if days_overdue == 0:
        return "due today"
    days = abs(days_overdue)
    span = f"{days} day" if days == 1 else f"{days} days"
    return f"{span} overdue" if days_overdue > 0 else f"due in {span}"


@app.command("done")
def done(
    ctx: typer.Context,
    followup_id: Annotated[int, typer.Argument(metavar="ID", help="The follow-up's id.", show_default=False)],
    note_: Annotated[str | None, typer.Option("--note", help="What came of it.")] = None,
) -> None:
    """Mark a follow-up done."""
    conn = connection(ctx)
    with write_transaction(conn):
        followups.done(conn, followup_id, note=note_)
    note(f"follow-up {followup_id} done")


# --- agenda ------------------------------------------------------------------------------------------

_SECTION_TABLES = {
    "followup": ("Follow-ups due", (("id", "id"), ("customer_id", "customer"), ("name", "name"), ("phone", "phone"),
                                    ("by", "by"), ("date", "due"), ("days", "days overdue"), ("detail", "note"))),
    "complaint": ("Open complaints", (("id", "id"), ("customer_id", "customer"), ("name", "name"),
                                      ("phone", "phone"), ("by", "by"), ("date", "made"), ("days", "days open"),
                                      ("detail", "complaint"))),
    "quiet": ("Best customers gone quiet", (("customer_id", "customer"), ("name", "name"), ("phone", "phone"),
                                            ("by", "served by"), ("date", "last purchase"), ("days", "days silent"),
                                            ("detail", "why"))),
}


# On a narrow terminal: who and how to reach them first; the note, complaint or why under each row.
_AGENDA_PRIORITY = {"by": 1, "date": 2, "customer_id": 3}


def agenda(
    ctx: typer.Context,
    by: Annotated[str | None, typer.Option(
        "--by", help="Only what is assigned to this staff member: their follow-ups, complaints attributed to "
        "them, quiet customers they served most.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0,
                                       help="At most N best customers gone quiet; 0 means all.")] = 10,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """Today's work: follow-ups due, open complaints, best customers gone quiet. Made for a morning cron mail."""
    from crmcli import output as out
    from crmcli import values
    from crmcli.reports import agenda as agenda_report

    conn = connection(ctx, create=False)
    with db.snapshot(conn):
        rows = agenda_report.agenda(conn, by=by, quiet_limit=limit or None)
    chosen = out.choose_format(fmt.value if fmt else None, output)
    view = View(columns_, sort, wide)
    every = out.columns(*agenda_report.AGENDA_COLUMNS, numeric=("id", "customer_id", "days"))
    if chosen != "table":
        render(rows, every, fmt, output, view=view)
        return
    picked = {col.key for col in view.choose(every)}  # --columns, checked against the csv names
    who = f" for {by.strip()}" if by else ""
    if not rows:
        note(f"nothing on the agenda{who} today ({values.now().date()})")
    with out.destination(output) as stream:
        is_terminal = output is None and stream.isatty()
        for section in agenda_report.AGENDA_SECTIONS:
            part = [row for row in rows if row["section"] == section]
            if not part:
                continue
            title, keys = _SECTION_TABLES[section]
            cols = [out.Column(key, label, numeric=key in ("id", "customer_id", "days"),
                               priority=0 if columns_ else _AGENDA_PRIORITY.get(key, 0), sentence=key == "detail")
                    for key, label in keys if key in picked]
            out.write_table(view.arrange(part, every, None), cols, stream,
                            title=f"{title}{who} ({len(part)}), {values.now().date()}", is_terminal=is_terminal,
                            wide=bool(wide or columns_),
                            see_also="crm customer show ID shows the customer, --format csv every value")


def register(root: typer.Typer) -> None:
    root.command("agenda")(agenda)
