"""`crm report summary` as a person reads it: one row per metric, one column per period, a trend line."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crmcli.reports.metrics import METRIC_BY_NAME

SPARK = "▁▂▃▄▅▆▇█"
MISSED_MARK = "✗"


def format_value(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    unit = METRIC_BY_NAME[metric].unit
    if unit == "count":
        return str(value)
    if unit == "share":
        return f"{value * 100:.1f}%"
    if unit == "money":
        return f"{Decimal(value):.2f}"
    if unit == "days":
        return f"{value:.1f}"
    return f"{value:.2f}"


def sparkline(series: list[Any]) -> str:
    """One block per value, its height scaled between the series' smallest and largest; blank where missing."""
    numbers = [float(v) for v in series if v is not None]
    if not numbers:
        return ""
    low, high = min(numbers), max(numbers)
    marks = []
    for v in series:
        if v is None:
            marks.append(" ")
        elif high == low:
            marks.append(SPARK[3])
        else:
            marks.append(SPARK[round((float(v) - low) / (high - low) * (len(SPARK) - 1))])
    return "".join(marks)


def pivot(rows: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """The tidy rows as one table row per metric and one column per period, with target and trend.

    Returns the period column keys (an incomplete period's label carries a '*') and the rows.
    The trend is a sparkline of the complete periods.
    """
    labels: list[str] = []
    by_metric: dict[str, dict[str, Any]] = {}
    for row in rows:
        label = row["period"] + ("" if row["complete"] else "*")
        if label not in labels:
            labels.append(label)
        entry = by_metric.setdefault(row["metric"], {"metric": METRIC_BY_NAME[row["metric"]].label,
                                                     "series": [], "target": row["target"]})
        cell = format_value(row["metric"], row["value"])
        if row["target_met"] is False:
            cell += " " + MISSED_MARK
        entry[label] = cell
        if row["complete"]:  # a period still running would always look like a fall
            entry["series"].append(row["value"])
    table = []
    for name, entry in by_metric.items():
        series = entry.pop("series")
        target = entry.pop("target")
        if target is not None:
            sign = "≤" if METRIC_BY_NAME[name].better == "lower" else "≥"
            entry["target"] = f"{sign} {format_value(name, target)}"
        entry["trend"] = sparkline(series)
        table.append(entry)
    return labels, table
