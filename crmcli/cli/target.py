"""`crm target ...`: set, list and remove targets for the summary metrics."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from crmcli import db, values
from crmcli.cli.common import (
    CrmGroup,
    FormatOption,
    OutputOption,
    connection,
    note,
    render,
    write_transaction,
)
from crmcli.cli.listing import ColumnsOption, SortOption, View, WideOption

app = typer.Typer(cls=CrmGroup, help="Targets per month, quarter or year for new customers, retention, "
                  "complaint resolution and revenue.", no_args_is_help=True)


class PeriodKind(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


Metric = Annotated[str, typer.Argument(
    metavar="METRIC", help="new_customers, retention_rate, median_resolution_days or revenue.", show_default=False)]
PerOption = Annotated[PeriodKind, typer.Option("--per", help="The period the target is for.")]


@app.command("set")
def set_(
    ctx: typer.Context,
    metric: Metric,
    value: Annotated[str, typer.Argument(
        metavar="VALUE", help="A count, an amount (revenue), days, or a share: 0.6 or 60% (retention_rate).",
        show_default=False)],
    per: PerOption = PeriodKind.month,
) -> None:
    """Set the target for a metric (replacing any earlier one for the same period)."""
    from crmcli.reports import targets

    conn = connection(ctx)
    with write_transaction(conn):
        result = targets.set_target(conn, metric, value, per=per.value)
    note(f"target set: {result['metric']} {result['direction']} {result['target']} per {result['per']}")


@app.command("list")
def list_(
    ctx: typer.Context,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Judge the last period complete on DATE. Default today.")] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """List the targets, each with the last complete period's actual and whether it was met."""
    from crmcli.output import columns
    from crmcli.reports import targets

    conn = connection(ctx, create=False)
    day = values.day(as_of, "as-of")
    with db.snapshot(conn):
        rows = targets.list_targets(conn, as_of=day)
    render(rows, columns(*targets.LIST_COLUMNS, numeric=("target", "actual"),
                         priority={"set_at": 3, "direction": 2, "per": 1}),
           fmt, output, title="Targets", view=View(columns_, sort, wide),
           empty="No targets yet: `crm target set new_customers 10 --per month` sets one.")


@app.command("remove")
def remove(
    ctx: typer.Context,
    metric: Metric,
    per: PerOption = PeriodKind.month,
) -> None:
    """Remove the target for a metric."""
    from crmcli.reports import targets

    conn = connection(ctx)
    with write_transaction(conn):
        targets.remove(conn, metric, per=per.value)
    note(f"target removed: {targets.metric_name(metric)} per {per.value}")
