"""`crm report ...`: best customers, churn risk, RFM segments, the fitted models.

numpy and scipy are imported inside the commands, so `crm --help` and the
simple writes never load them.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from crmcli import db, values
from crmcli.cli.common import CrmGroup, FormatOption, OutputOption, connection, note, render

app = typer.Typer(cls=CrmGroup, help="Best customers, churn risk, RFM segments and the fitted models.",
                  no_args_is_help=True)


class Model(str, Enum):
    pareto = "pareto"
    bgnbd = "bgnbd"


class RankBy(str, Enum):
    clv = "clv"
    rfm = "rfm"
    revenue = "revenue"


AsOfOption = Annotated[Optional[str], typer.Option(
    "--as-of", help="Report as of DATE: only data on or before it is used, so a report can be reproduced "
    "later. Default today.")]
ModelOption = Annotated[Model, typer.Option(
    "--model", help="pareto (Pareto/NBD, default) or bgnbd (BG/NBD). See README for why Pareto/NBD is the default.")]
ReportLimitOption = Annotated[int, typer.Option("--limit", "-n", min=0, help="At most N customers; 0 means all.")]
HorizonOption = Annotated[int, typer.Option("--horizon", min=1, help="Days ahead for expected purchases and CLV.")]


def _scores(ctx: typer.Context, as_of: str | None, model: Model, horizon: int = 365, discount: float = 0.0):
    from crmcli.analytics import report

    conn = connection(ctx)
    day = values.day(as_of, "as-of")
    with db.snapshot(conn):
        scores = report.score(conn, as_of=day, model=model.value, horizon_days=horizon, discount=discount)
    for message in scores.notes:
        note(f"note: {message}")
    return conn, scores


@app.command("best")
def best(
    ctx: typer.Context,
    by: Annotated[RankBy, typer.Option("--by", help="Rank by predicted lifetime value (clv), RFM score or "
                                       "revenue so far.")] = RankBy.clv,
    horizon: HorizonOption = 365,
    discount: Annotated[float, typer.Option("--discount", help="Annual discount rate for CLV, e.g. 0.1.")] = 0.0,
    segment: Annotated[Optional[str], typer.Option("--segment", help="Only this RFM segment, e.g. 'At risk'.")] = None,
    as_of: AsOfOption = None,
    model: ModelOption = Model.pareto,
    limit: ReportLimitOption = 20,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Rank the best customers by predicted lifetime value, with the reasons."""
    from crmcli.analytics import report
    from crmcli.output import columns

    conn, scores = _scores(ctx, as_of, model, horizon, discount)
    with db.snapshot(conn):
        rows = report.best_rows(conn, scores, by=by.value, segment=segment, limit=limit)
    render(rows, columns(*report.BEST_COLUMNS, numeric=_NUMERIC, table=report.BEST_TABLE), fmt, output,
           title=f"Best customers as of {scores.base.as_of} (by {by.value}, {scores.model})")


@app.command("churn")
def churn(
    ctx: typer.Context,
    min_risk: Annotated[float, typer.Option("--min-risk", min=0.0, max=1.0,
                                            help="Only customers at least this likely to have left.")] = 0.0,
    as_of: AsOfOption = None,
    model: ModelOption = Model.pareto,
    limit: ReportLimitOption = 20,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Customers most worth saving first: ranked by value at risk (P(left) x yearly value)."""
    from crmcli.analytics import report
    from crmcli.output import columns

    conn, scores = _scores(ctx, as_of, model)
    with db.snapshot(conn):
        rows = report.churn_rows(conn, scores, min_risk=min_risk, limit=limit)
    render(rows, columns(*report.CHURN_COLUMNS, numeric=_NUMERIC, table=report.CHURN_TABLE), fmt, output,
           title=f"Churn risk as of {scores.base.as_of} ({scores.model})")


@app.command("segments")
def segments(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """Customers, revenue and revenue share per RFM segment."""
    from crmcli.analytics import report
    from crmcli.output import columns

    _, scores = _scores(ctx, as_of, Model.pareto)
    render(report.segment_rows(scores), columns(*report.SEGMENT_COLUMNS, numeric=_NUMERIC), fmt, output,
           title=f"RFM segments as of {scores.base.as_of}")


@app.command("model")
def model_(
    ctx: typer.Context,
    as_of: AsOfOption = None,
    fmt: FormatOption = None,
    output: OutputOption = None,
) -> None:
    """The fitted models (BG/NBD, Pareto/NBD, Gamma-Gamma): parameters per day, log-likelihood, convergence."""
    from crmcli.analytics import report
    from crmcli.output import columns

    conn = connection(ctx)
    day = values.day(as_of, "as-of")
    with db.snapshot(conn):
        rows, notes = report.fitted_models(conn, as_of=day)
    for message in notes:
        note(f"note: {message}")
    render(rows, columns(*report.MODEL_COLUMNS, numeric=_NUMERIC), fmt, output,
           title=f"Fitted models as of {day or values.now().date()}")


_NUMERIC = (
    "rank", "customer_id", "recency_score", "frequency_score", "monetary_score", "purchases", "revenue",
    "days_since_last_purchase", "p_alive", "expected_purchases", "expected_spend", "predicted_clv", "churn_risk",
    "value_at_risk", "value_if_active", "typical_gap_days", "open_complaints", "low_ratings", "customers",
    "customer_share", "revenue_share", "log_likelihood", "repeat_customers",
)
