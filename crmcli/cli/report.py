"""`crm report ...`: best customers, churn risk, RFM segments, the fitted models.

numpy and scipy are imported inside the commands, so `crm --help` and the
simple writes never load them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
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
from crmcli.cli.target import PeriodKind

app = typer.Typer(cls=CrmGroup, help="Best customers, churn risk, RFM segments and the fitted models.",
                  no_args_is_help=True)


class Model(StrEnum):
    auto = "auto"
    pareto = "pareto"
    bgnbd = "bgnbd"
    mbgnbd = "mbgnbd"


class RankBy(StrEnum):
    clv = "clv"
    rfm = "rfm"
    revenue = "revenue"


AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="Report as of DATE: only data on or before it is used, so a report can be reproduced "
    "later. Default today.")]
ModelOption = Annotated[Model, typer.Option(
    "--model", help="auto (default: fits pareto, bgnbd and mbgnbd and takes the lowest BIC, stored with the fits), "
    "pareto (Pareto/NBD), bgnbd (BG/NBD) or mbgnbd (MBG/NBD). See README, How the reports work.")]
ReportLimitOption = Annotated[int, typer.Option("--limit", "-n", min=0, help="At most N customers; 0 means all.")]
HorizonOption = Annotated[int, typer.Option("--horizon", min=1, help="Days ahead for expected purchases and CLV.")]
RefitOption = Annotated[bool, typer.Option(
    "--refit", help="Fit the models again instead of reusing a stored fit (see README, How the reports work).")]


def _scores(conn, as_of: str | None, model: Model, horizon: int = 365, discount: float = 0.0, refit: bool = False):
    """Load, fit or reuse, and predict (inside the caller's snapshot); the models' notes go to stderr."""
    from crmcli.analytics import report

    what = "fitting pareto, bgnbd and mbgnbd, choosing" if model is Model.auto else f"fitting {model.value}"
    with _working(conn, f"{what} and scoring every customer"):
        scores = report.score(conn, as_of=values.day(as_of, "as-of"), model=model.value, horizon_days=horizon,
                              discount=discount, refit=refit)
    for message in scores.notes:
        note(f"note: {message}")
    return scores


def keep_fits(conn, fits) -> None:
    """Store the fits a command made, after its snapshot: never blocks or fails it (stored.save)."""
    from crmcli.analytics import stored

    if (why_not := stored.save(conn, fits)) is not None:
        note(f"note: {why_not}")


# A spinner on stderr while a large shop's models are fitted (seconds, not milliseconds): for a person
# watching a terminal only, never in a pipe, a file or a cron job, and never under -q/--quiet.
WORKING_FROM_CUSTOMERS = 20_000


@contextmanager
def _working(conn, what: str) -> Iterator[None]:
    from crmcli import customers
    from crmcli.cli import common

    try:
        watched = sys.stderr.isatty() and not common.is_quiet()
    except (AttributeError, ValueError):  # stderr replaced or closed
        watched = False
    if not watched or customers.count(conn) < WORKING_FROM_CUSTOMERS:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(what):
        yield


@app.command("best")
def best(
    ctx: typer.Context,
    by: Annotated[RankBy, typer.Option("--by", help="Rank by predicted lifetime value (clv), RFM score or "
                                       "revenue so far.")] = RankBy.clv,
    horizon: HorizonOption = 365,
    discount: Annotated[float, typer.Option("--discount", help="Annual discount rate for CLV, e.g. 0.1.")] = 0.0,
    segment: Annotated[str | None, typer.Option("--segment", help="Only this RFM segment, e.g. 'At risk'.")] = None,
    as_of: AsOfOption = None,
    model: ModelOption = Model.auto,
    refit: RefitOption = False,
    limit: ReportLimitOption = 20,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """Rank the best customers by predicted lifetime value, with the reasons."""
    from crmcli.analytics import report
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):  # scores, names and rows from one consistent state
        scores = _scores(conn, as_of, model, horizon, discount, refit)
        rows = report.best_rows(conn, scores, by=by.value, segment=segment, limit=view.fetch_limit(limit) or 0)
        render(rows, columns(*report.BEST_COLUMNS, numeric=_NUMERIC, table=report.table_of(report.BEST_TABLE, scores),
                             priority=_REPORT_PRIORITY, sentences=("why",)), fmt, output,
               title=f"Best customers as of {scores.base.as_of} "
                     f"(by {report.ranked_by(by.value, scores)}, {scores.model})",
               view=view, limit=limit, see_also=_SEE_CUSTOMER, empty=_NO_PURCHASES)
    keep_fits(conn, scores.fits.fresh())


@app.command("churn")
def churn(
    ctx: typer.Context,
    min_risk: Annotated[float, typer.Option("--min-risk", min=0.0, max=1.0,
                                            help="Only customers at least this likely to have left (with too little "
                                            "history for a model: any P above 0 keeps the lapsed ones).")] = 0.0,
    as_of: AsOfOption = None,
    model: ModelOption = Model.auto,
    refit: RefitOption = False,
    limit: ReportLimitOption = 20,
    fmt: FormatOption = None,
    output: OutputOption = None,
    follow_up: Annotated[int, typer.Option(
        "--follow-up", min=0, help="Schedule a follow-up due today for each of the top N customers of this "
        "ranking who have no open one, assigned to the staff member who served them most.")] = 0,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """Customers most worth saving first: ranked by value at risk (P(left) x yearly value)."""
    from crmcli.analytics import report
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    view = View(columns_, sort, wide)
    with db.snapshot(conn):
        scores = _scores(conn, as_of, model, refit=refit)
        if said := report.use_complaint_signal(conn, scores):
            note(f"note: {said}")
    cols = columns(*report.CHURN_COLUMNS, numeric=_NUMERIC, table=report.table_of(report.CHURN_TABLE, scores),
                   priority=_REPORT_PRIORITY,
                   sentences=("why",))
    title = f"Churn risk as of {scores.base.as_of} ({scores.model})"
    if not follow_up:
        with db.snapshot(conn):
            rows = report.churn_rows(conn, scores, min_risk=min_risk, limit=view.fetch_limit(limit) or 0)
            render(rows, cols, fmt, output, title=title, view=view, limit=limit, see_also=_SEE_CUSTOMER,
                   empty=_NO_PURCHASES)
        keep_fits(conn, scores.fits.fresh())
        return
    # Scheduling follow-ups writes: the follow-ups are created, the report written (and flushed to its
    # file or stdout), and only then committed; the file is renamed into place after the commit. A report
    # that cannot be written leaves no follow-ups behind.
    from crmcli import followups
    from crmcli import output as out

    chosen = out.choose_format(fmt.value if fmt else None, output)
    with out.destination(output) as stream, write_transaction(conn):
        top = list(report.churn_rows(conn, scores, min_risk=min_risk, limit=follow_up))
        result = followups.schedule_for_churn(conn, top, as_of=scores.base.as_of)
        shown = view.arrange(report.churn_rows(conn, scores, min_risk=min_risk, limit=view.fetch_limit(limit) or 0),
                             cols, limit)
        out.write(chosen, shown, view.choose(cols), stream, title=title, is_terminal=output is None and stream.isatty(),
                  wide=view.wide, see_also=_SEE_CUSTOMER, empty=_NO_PURCHASES)
        out.settle(stream)
    # The fits are kept apart, after the follow-ups committed: failing to store one undoes nothing.
    keep_fits(conn, scores.fits.fresh())
    created, skipped = result["created"], result["skipped"]
    ids = f" (ids {', '.join(map(str, created))})" if created else ""
    note(f"scheduled {len(created)} follow-up{'' if len(created) == 1 else 's'} due today{ids}; "
         f"{len(skipped)} of the top {min(follow_up, len(top))} already had an open one")


@app.command("segments")
def segments(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """Customers, revenue and revenue share per RFM segment."""
    from crmcli.analytics import report
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    day = values.day(as_of, "as-of") or values.now().date()
    with db.snapshot(conn):
        rows = report.segment_rows(conn, as_of=day)
    render(rows, columns(*report.SEGMENT_COLUMNS, numeric=_NUMERIC, priority={"customer_share": 1, "revenue_share": 1},
                         sentences=("advice",)),
           fmt, output, title=f"RFM segments as of {day}", view=View(columns_, sort, wide), empty=_NO_PURCHASES)


@app.command("model")
def model_(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    refit: RefitOption = False,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
    backtest: Annotated[bool, typer.Option(
        "--backtest", help="Fit on the history before a cut-off, predict the holdout after it and compare, as "
        "Fader, Hardie & Lee (2005) do: the two charts (cumulative purchases week by week; holdout purchases by "
        "purchases before the cut-off) and each model's total error, correlation and the complaint signal. "
        "--format csv gives every number.")] = False,
    holdout: Annotated[int | None, typer.Option(
        "--holdout", metavar="DAYS", help="With --backtest: days after the cut-off to predict. Default: a third "
        "of the days since the first purchase, in whole weeks, at least 28.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", metavar="FILE", help="With --backtest: also write the two charts to FILE (.png, .svg or .html), "
        "atomically.")] = None,
) -> None:
    """The fitted models (Pareto/NBD, BG/NBD, MBG/NBD, Gamma-Gamma): parameters per day, log-likelihood, BIC,
    which one auto chose and why, holdout error, and which stored fit each is. --refit in a nightly cron job
    keeps every report's fit fresh. --backtest checks the purchase models against what the customers did next."""
    from crmcli.analytics import fitted
    from crmcli.output import columns

    conn = connection(ctx, create=False)
    day = values.day(as_of, "as-of")
    if backtest or holdout is not None or plot is not None:  # --holdout and --plot mean a backtest
        from crmcli.cli import backtest as backtest_view

        backtest_view.show(conn, day, holdout, plot, fmt, output, _working(conn, "backtesting the models"))
        return
    with db.snapshot(conn), _working(conn, "fitting the models"):
        rows, notes, fresh = fitted.fitted_models(conn, as_of=day, refit=refit)
    for message in notes:
        note(f"note: {message}")
    # The parameters are rounded to 4 significant digits in a table; csv and json carry them in full.
    render(rows, columns(*fitted.MODEL_COLUMNS, numeric=(*_NUMERIC, "bic", "holdout_error", "holdout_correlation"),
                         priority={"converged": 1, "log_likelihood": 2, "customers": 3, "repeat_customers": 3,
                                   "time_unit": 4, "as_of": 2, "fitted_at": 5, "reused": 3, "purchase_days": 5,
                                   "iterations": 6, **fitted.MODEL_PRIORITY},
                         sentences=fitted.MODEL_SENTENCES),
           fmt, output, title=f"Fitted models as of {day or values.now().date()}", view=View(columns_, sort, wide),
           empty=_NO_PURCHASES)
    keep_fits(conn, fresh)  # only once the rows are written: a failed command leaves the database as it was


# On a narrow terminal the columns of best and churn are left out from the highest number down; rank, id
# and name always stay. The why sentence goes under each row, or is left out when it would take too many lines.
_REPORT_PRIORITY = {
    "predicted_clv": 1, "value_at_risk": 1, "churn_risk": 2, "p_alive": 2, "revenue": 3, "open_complaints": 3,
    "days_since_last_purchase": 4, "segment": 4, "typical_gap_days": 5,
}
_SEE_CUSTOMER = "crm customer show ID shows one customer whole, --wide every column, --format csv every value"
_NO_PURCHASES = "No purchases to score yet: `crm demo` loads a sample shop; `crm interaction add REF purchase " \
    "--amount 12.50` records a sale."

_NUMERIC = (
    "rank", "customer_id", "recency_score", "frequency_score", "monetary_score", "purchases", "revenue",
    "days_since_last_purchase", "p_alive", "expected_purchases", "expected_spend", "predicted_clv", "churn_risk",
    "value_at_risk", "value_if_active", "typical_gap_days", "open_complaints", "low_ratings", "customers",
    "customer_share", "revenue_share", "log_likelihood", "repeat_customers", "purchase_days", "iterations",
)


@app.command("summary")
def summary(
    ctx: typer.Context,
    period: Annotated[PeriodKind, typer.Option("--period", help="Length of each period.")] = PeriodKind.month,
    periods: Annotated[int, typer.Option("--periods", min=1, max=120,
                                         help="How many periods, the current one included.")] = 6,
    as_of: AsOfOption = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Exit with code 4 when a target of the last complete period was missed (for cron).")] = False,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:
    """Per period: customers won, kept and lost, revenue, complaints and ratings, beside the targets."""
    from crmcli.output import Column, choose_format, columns
    from crmcli.reports import metrics, summary_table, targets

    conn = connection(ctx, create=False)
    day = values.day(as_of, "as-of") or values.now().date()
    made: list = []
    with db.snapshot(conn):
        goals = targets.targets_for(conn, period.value)
        rows = metrics.summary(conn, period=period.value, count=periods, as_of=day, targets=goals, made=made)
        verdict = targets.check(conn, per=period.value, as_of=day) if check else None
    if choose_format(fmt.value if fmt else None, output) == "table":
        labels, table = summary_table.pivot(rows)
        # On a narrow terminal the oldest periods are left out first; the last two, the target and the trend stay.
        cols = [Column("metric"), *(Column(label, numeric=True, priority=max(len(labels) - n + 1, 0) if
                                           n < len(labels) - 2 else 0) for n, label in enumerate(labels)),
                Column("target", numeric=True, priority=1), Column("trend", priority=2)]
        render(table, cols, fmt, output, title=f"Summary by {period.value} as of {day} "
               f"(* = to date; {summary_table.MISSED_MARK} = target missed)", view=View(columns_, sort, wide),
               see_also="--periods 3 shows fewer, --wide all of them, --format csv every value")
    else:
        render(rows, columns(*metrics.SUMMARY_COLUMNS), fmt, output, view=View(columns_, sort, wide))
    # Only once the rows are written, and not when --check exits 4: a command that exits non-zero leaves
    # the database as it was (the fits are only a cache; the next summary fits again).
    if verdict is None or not verdict["missed"]:
        keep_fits(conn, made)
    if verdict is not None:
        _report_check(verdict, period.value)


def _report_check(verdict: dict, per: str) -> None:
    from crmcli.reports import summary_table, targets

    label = verdict["period"]
    if not verdict["targets"]:
        note(f"no targets per {per} to check (set one with: crm target set METRIC VALUE --per {per})")
        return
    for entry in verdict["not_judged"]:
        note(f"note: {entry['metric']} has no value in {label}; its target was not judged")
    for entry in verdict["missed"]:
        actual = summary_table.format_value(entry["metric"], entry["actual"])
        target = summary_table.format_value(entry["metric"], entry["target"])
        note(f"crm: target missed in {label}: {entry['metric']} {actual}, target {entry['direction']} {target}")
    if verdict["missed"]:
        raise typer.Exit(targets.TARGET_MISSED_EXIT_CODE)
    judged = verdict["targets"] - len(verdict["not_judged"])
    note(f"targets per {per} met in {label}: {judged} of {judged}")


@app.command("staff")
def staff(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="From DATE (inclusive). Default: all history.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Up to DATE (inclusive). Default: today.")] = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
    columns_: ColumnsOption = None,
    sort: SortOption = None,
    wide: WideOption = False,
) -> None:

    """Per staff member: interactions, customers served, complaints handled and resolved, ratings, follow-ups."""
    from crmcli.output import columns
    from crmcli.reports import staff as staff_report

    conn = connection(ctx, create=False)
    with db.snapshot(conn):
        rows = staff_report.staff_rows(conn, since=since, until=until)
    span = f"{since or 'the start'} to {until or 'today'}"
    render(rows, columns(*staff_report.STAFF_COLUMNS, numeric=staff_report.STAFF_COLUMNS[1:], priority=_STAFF_PRIORITY),
           fmt, output, title=f"Staff, {span}", view=View(columns_, sort, wide),
           empty="No staff named yet: give `--by NAME` to `crm interaction add` and `crm feedback add`.")


# On a narrow terminal: who, what they sold and how their customers fared first.
_STAFF_PRIORITY = {"revenue": 1, "interactions": 1, "customers_served": 2, "average_rating": 2, "sales": 3,
                   "complaints_handled": 3, "complaints_resolved": 4, "followups_overdue": 4, "compliments": 5,
                   "median_resolution_days": 5, "followups_done": 6}
