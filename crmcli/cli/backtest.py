"""`crm report model --backtest`: the backtest's charts and numbers (analytics/backtest.py, output/charts.py).

On a terminal: the two charts (plotext) and a table per model; csv/tsv/json/jsonl: every number in
one row shape (backtest.COLUMNS); --plot FILE: a png, svg or html chart file (matplotlib).
numpy, scipy, plotext and matplotlib are imported inside, so nothing else pays for them.
"""

from __future__ import annotations

import shutil
import textwrap
from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path
from typing import Any

from crmcli import db, values
from crmcli.cli.common import OutputFormat, note, render

SUMMARY_COLUMNS = ("model", "customers", "actual", "predicted", "error", "correlation", "mae")
_NUMERIC = ("customers", "actual", "predicted", "error", "correlation", "mae", "bucket", "week", "lift", "low",
            "high", "holdout_days")


def show(conn, as_of: date | None, holdout: int | None, plot: Path | None, fmt: OutputFormat | None,
         output: Path | None, working: AbstractContextManager) -> None:
    """Run the backtest as of `as_of` and write it: charts and a table, or machine rows; and the --plot file."""
    from crmcli import output as out
    from crmcli.analytics import backtest, signals
    from crmcli.output import charts

    if plot is not None:
        charts.plot_format(plot)  # a bad extension fails before any fitting
    day = as_of or values.now().date()
    cols = out.columns(*backtest.COLUMNS, numeric=_NUMERIC)
    with db.snapshot(conn), working:
        try:
            data = backtest.split(conn, day, holdout)
            checks = backtest.run(data)
        except backtest.TooLittleData as why:
            note(f"too little data for a backtest as of {day}: {why}")
            if out.choose_format(fmt.value if fmt else None, output) != "table":
                render([], cols, fmt, output)  # the header alone: a pipeline still gets its shape
            return
    note(backtest.describe(data))
    for check in checks:
        if not check.fit.converged:
            note(f"note: the {check.name} fit did not converge ({check.fit.message}); its numbers are shown as fitted")
    found = {check.name: signals.from_check(data, check) for check in checks}
    rows = backtest.rows(data, checks, {name: signal.as_json() for name, signal in found.items()})
    _keep(conn, day, data, found, rows)
    title = f"Backtest as of {day}: fitted up to {date.fromordinal(data.cutoff)}, {data.holdout_days}-day holdout"
    if plot is not None:
        charts.write_plot(rows, plot, title)
        note(f"wrote the charts to {plot}")
    chosen = out.choose_format(fmt.value if fmt else None, output)
    if chosen != "table":
        render(rows, cols, fmt, output)
        return
    _table(rows, {name: signal.reason for name, signal in found.items()}, title, output)


def _keep(conn, day: date, data, found: dict, rows: list[dict[str, Any]]) -> None:
    """Store each model's complaint signal and holdout summary, for later churn reports (which use the
    signal where it holds: report.use_complaint_signal) and `crm report model` (which shows the holdout
    error); like a fit, storing never fails the command (stored.save)."""
    from crmcli.analytics import report, stored

    measured = {f"{report.COMPLAINTS}_{name}": signal.as_json() for name, signal in found.items()}
    for row in rows:
        if row["kind"] == "summary":
            measured[f"{report.BACKTEST}_{row['model']}"] = {
                key: row[key] for key in ("error", "correlation", "mae", "actual", "predicted", "cutoff",
                                          "holdout_days", "customers")}
    with db.snapshot(conn):
        kept = report.backtest_fits(conn, day, measured, len(data.x), int((data.x > 0).sum()),
                                    int((data.x + 1).sum()))
    if (why_not := stored.save(conn, kept)) is not None:
        note(f"note: {why_not}")


def _table(rows: list[dict[str, Any]], complaints: dict[str, str], title: str, output: Path | None) -> None:
    """The charts, one line of numbers per model, then each model's complaint verdict (a sentence, under the table
    so that no terminal width leaves it out)."""
    from crmcli import output as out
    from crmcli.output import charts

    summary = [{
        "model": row["model"], "customers": row["customers"], "actual": f"{row['actual']:,.0f}",
        "predicted": f"{row['predicted']:,.1f}", "error": _percent(row["error"]),
        "correlation": _fixed(row["correlation"]), "mae": _fixed(row["mae"]),
    } for row in rows if row["kind"] == "summary"]
    cols = out.columns(*SUMMARY_COLUMNS, numeric=SUMMARY_COLUMNS[1:])
    with out.destination(output) as stream:
        terminal = output is None and stream.isatty()
        width = shutil.get_terminal_size((100, 24)).columns if terminal else 100
        stream.write(charts.terminal_charts(rows, width, colour=charts.colour_wanted(stream) and terminal) + "\n\n")
        out.write("table", summary, cols, stream, title=title, is_terminal=terminal,
                  see_also="--format csv gives every number: by frequency, week by week and the totals")
        for model, reason in complaints.items():
            line = f"complaint signal ({model}): {out.terminal_text(reason)}"
            stream.write((textwrap.fill(line, width, subsequent_indent="    ") if terminal else line) + "\n")


def _percent(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:+.1%}"


def _fixed(value: float | None) -> str:
    return "" if value is None or value != value else f"{value:.2f}"
