"""The backtest's two charts, as Fader, Hardie & Lee (2005) draw them, from its machine rows (backtest.rows).

- tracking: cumulative repeat purchase days week by week, actual against each model, the cut-off marked;
- by frequency: holdout repeat purchase days per customer by calibration repeat purchase days 0 ... 7+,
  actual against each model's conditional expectation (means per customer, as FHL plot them).

On a terminal they are drawn with plotext; `--plot FILE` writes a file with matplotlib (png, svg, or an html
page with the svg inline), atomically through files.destination. Both libraries are imported only here,
inside the functions that draw, so no other command pays for them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crmcli.errors import InvalidInput
from crmcli.output.files import destination, refuse_database_files

PLOT_FORMATS = ("png", "svg", "html")
_ACTUAL = "actual"


def plot_format(path: Path, field: str = "plot") -> str:
    """png, svg or html by the file's extension; InvalidInput naming the option otherwise, or for the database."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix == "htm":
        suffix = "html"
    if suffix not in PLOT_FORMATS:
        raise InvalidInput(field, str(path), "must be a file ending in .png, .svg or .html")
    target = Path(path).expanduser()
    refuse_database_files(target, field)
    # Said before the models are fitted (seconds on a large shop), not after; destination checks again.
    if target.is_dir():
        raise InvalidInput(field, str(path), "is a directory; give a file name")
    if not target.parent.is_dir():
        raise InvalidInput(field, str(path), f"its folder {str(target.parent)!r} does not exist")
    return suffix


def _series(rows: Sequence[dict[str, Any]], kind: str, key: str) -> dict[str, tuple[list, list]]:
    """{"actual": (xs, ys), model: (xs, ys), ...} for one kind of row, in row order."""
    out: dict[str, tuple[list, list]] = {}
    for row in rows:
        if row["kind"] != kind:
            continue
        x = row[key]
        if kind == "by_frequency":
            customers = row["customers"] or 0
            actual = row["actual"] / customers if customers else float("nan")
            predicted = row["predicted"] / customers if customers else float("nan")
        else:
            actual, predicted = row["actual"], row["predicted"]
        if row["model"] == _first_model(rows):
            out.setdefault(_ACTUAL, ([], []))
            out[_ACTUAL][0].append(x)
            out[_ACTUAL][1].append(actual)
        out.setdefault(row["model"], ([], []))
        out[row["model"]][0].append(x)
        out[row["model"]][1].append(predicted)
    return out


def _first_model(rows: Sequence[dict[str, Any]]) -> str:
    return next(row["model"] for row in rows)


def _titles(rows: Sequence[dict[str, Any]]) -> tuple[str, str]:
    summary = next(row for row in rows if row["kind"] == "summary")
    return (f"Cumulative repeat purchase days (cut-off {summary['cutoff']}: week 0)",
            f"Holdout purchase days per customer ({summary['holdout_days']} days)")


def terminal_charts(rows: Sequence[dict[str, Any]], width: int, *, colour: bool) -> str:
    """The two charts side by side (one above the other under 100 columns), as text for a terminal."""
    import plotext

    figure = plotext.figure
    figure.clear()
    side_by_side = width >= 100
    figure.subplots(1, 2) if side_by_side else figure.subplots(2, 1)
    figure.plot_size(width, 22 if side_by_side else 40)
    tracking = figure.subplot(1, 1)
    frequency = figure.subplot(1, 2) if side_by_side else figure.subplot(2, 1)
    for plot in (tracking, frequency):
        plot.theme("simple" if colour else "colorless")
    tracking.title("Cumulative repeat purchase days")
    tracking.label("week (0 = cut-off)", axis="x")
    weeks: list[int] = []
    for name, (weeks, ys) in _series(rows, "tracking", "week").items():
        if shown := _finite(weeks, ys):
            tracking.draw(tracking.signal(*shown).lines().label(name))
    tracking.ruler("x").ticks(_week_ticks(weeks))
    # The curves rise to the upper right: the legend goes to the lower right, out of their way.
    if weeks:
        tracking.legend(x=weeks[-1], y=0, ha="right", va="bottom", relative=True)
    frequency.title("Holdout purchase days per customer")
    frequency.label("repeat purchase days before the cut-off", axis="x")
    by_frequency = _series(rows, "by_frequency", "bucket")
    for name, (labels, ys) in by_frequency.items():
        if shown := _finite(list(range(len(labels))), ys):
            frequency.draw(frequency.signal(*shown).lines().label(name))
    labels = next(iter(by_frequency.values()))[0]
    frequency.ruler("x").ticks(list(range(len(labels))), labels)
    text = figure.build().string(colorless=not colour)
    figure.clear()
    return text


def _finite(xs: list, ys: list) -> tuple[list, list] | None:
    """The points with a finite y (an empty bucket's mean is NaN, a failed fit's every value), or None if none:
    plotext aborts the whole process on a NaN rather than leave a gap."""
    import math

    kept = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None and math.isfinite(y)]
    return ([x for x, _ in kept], [y for _, y in kept]) if kept else None


def _week_ticks(weeks: list[int]) -> list[int]:
    """Whole weeks, 0 (the cut-off) among them, about six across."""
    if not weeks:
        return [0]
    step = max(1, round((weeks[-1] - weeks[0]) / 6))
    return [w for w in range(weeks[0] - weeks[0] % step, weeks[-1] + 1, step) if w >= weeks[0]]


def figure_file(rows: Sequence[dict[str, Any]], kind: str, title: str) -> bytes:
    """The two charts as a png, an svg or an html page with the svg inline (matplotlib, Agg for png)."""
    import matplotlib

    matplotlib.use("Agg")  # never a window, whatever the machine's default backend
    from matplotlib.figure import Figure

    # A Figure made directly, not through pyplot: no global state, nothing left open between calls.
    fig = Figure(figsize=(13, 5), layout="constrained")
    fig.suptitle(title)
    tracking, frequency = fig.subplots(1, 2)
    tracking_title, frequency_title = _titles(rows)
    for name, (xs, ys) in _series(rows, "tracking", "week").items():
        tracking.plot(xs, ys, label=name, color="black" if name == _ACTUAL else None,
                      linestyle="-" if name == _ACTUAL else "--")
    tracking.axvline(0, color="grey", linewidth=0.8)
    tracking.set(title=tracking_title, xlabel="week (0 = cut-off)", ylabel="repeat purchase days")
    tracking.legend()
    by_frequency = _series(rows, "by_frequency", "bucket")
    for name, (labels, ys) in by_frequency.items():
        frequency.plot(labels, ys, marker="o", label=name, color="black" if name == _ACTUAL else None,
                       linestyle="-" if name == _ACTUAL else "--")
    frequency.set(title=frequency_title, xlabel="repeat purchase days before the cut-off",
                  ylabel="repeat purchase days in the holdout, per customer")
    frequency.legend()
    buffer = io.BytesIO()
    # No date in the metadata and a fixed id salt: the same data make the same file.
    matplotlib.rcParams["svg.hashsalt"] = "crmcli"
    if kind == "png":
        fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
        return buffer.getvalue()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue().decode("utf-8")
    if kind == "svg":
        return svg.encode("utf-8")
    return _html_page(title, svg[svg.index("<svg"):], rows).encode("utf-8")


def _html_page(title: str, svg: str, rows: Sequence[dict[str, Any]]) -> str:
    """A page to open or send: the charts, then the numbers per model under them."""
    from html import escape

    def cell(value: Any, form: str) -> str:
        return "" if value is None or value != value else escape(format(value, form))

    complaints = {row["model"]: row for row in rows if row["kind"] == "complaints"}
    lines = []
    for row in (row for row in rows if row["kind"] == "summary"):
        signal = complaints.get(row["model"], {})
        verdict = ("no verdict" if signal.get("lift") is None else
                   f"{signal['lift']:.2f} ({signal['low']:.2f} to {signal['high']:.2f}), "
                   f"{'supported' if signal['supported'] else 'not supported'}")
        lines.append(f"<tr><td>{escape(row['model'])}</td><td>{row['customers']:,}</td>"
                     f"<td>{cell(row['actual'], ',.0f')}</td><td>{cell(row['predicted'], ',.1f')}</td>"
                     f"<td>{cell(row['error'], '+.1%')}</td><td>{cell(row['correlation'], '.2f')}</td>"
                     f"<td>{cell(row['mae'], '.2f')}</td><td>{escape(verdict)}</td></tr>")
    table = ("<table>\n<tr><th>model</th><th>customers</th><th>actual</th><th>predicted</th><th>error</th>"
             "<th>correlation</th><th>MAE</th><th>complaint lift (95% interval)</th></tr>\n"
             + "\n".join(lines) + "\n</table>")
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(title)}</title>\n'
            "<style>body { font-family: sans-serif; margin: 2em; } svg { max-width: 100%; height: auto; }\n"
            "td, th { padding: 0.2em 0.8em; text-align: right; } td:first-child, th:first-child { text-align: left; }"
            "</style>\n</head>\n<body>\n"
            f"{svg}\n<p>Holdout repeat purchase days per model: predicted against actual.</p>\n{table}\n"
            "</body>\n</html>\n")


def write_plot(rows: Sequence[dict[str, Any]], path: Path, title: str, *, field: str = "plot") -> None:
    """The chart file at `path` (its format by extension), written to a temporary file and renamed into place."""
    kind = plot_format(path, field)
    data = figure_file(rows, kind, title)
    with destination(Path(path), field=field) as handle:
        # destination gives a text stream; the chart's bytes go to the binary file beneath it.
        handle.flush()
        handle.buffer.write(data)


def colour_wanted(stream: Any) -> bool:
    """Colour on a terminal unless NO_COLOR is set (no-color.org)."""
    return not os.environ.get("NO_COLOR") and bool(getattr(stream, "isatty", lambda: False)())
