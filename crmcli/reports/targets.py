"""Targets: what the owner wants a summary metric to reach per month, quarter or year,
and the check that a cron job runs (`crm report summary --check`).

A target is one number per (metric, period kind); setting it again replaces it. Revenue
targets are kept in integer cents; rates as a share from 0 to 1.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from crmcli import values
from crmcli.db import Connection
from crmcli.errors import InvalidInput, NotFound
from crmcli.reports import metrics

# The metrics a target can be set for, and which way it is met.
TARGET_METRICS = ("new_customers", "retention_rate", "median_resolution_days", "revenue")
# `crm report summary --check` exits with this code when a target of the last complete period was missed.
TARGET_MISSED_EXIT_CODE = 4

LIST_COLUMNS = ("metric", "per", "direction", "target", "last_period", "actual", "met", "set_at")


def metric_name(value: str | None, field: str = "metric") -> str:
    """'retention-rate' or 'Retention_Rate' -> 'retention_rate'; only metrics that take a target."""
    name = (value or "").strip().lower().replace("-", "_")
    if name not in TARGET_METRICS:
        raise InvalidInput(field, value, "must be one of " + ", ".join(TARGET_METRICS))
    return name


def direction(metric: str) -> str:
    return "at most" if metrics.METRIC_BY_NAME[metric].better == "lower" else "at least"


def parse_value(metric: str, value: str | int | float | Decimal | None) -> tuple[float | None, int | None]:
    """The target as stored: (value, None), or (None, amount_cents) for revenue."""
    if metric == "revenue":
        cents = values.amount_to_cents(value, "value")
        if cents is None:
            raise InvalidInput("value", value, "is required")
        return None, cents
    text = str(value if value is not None else "").strip()
    percent = text.endswith("%")
    try:
        number = Decimal(text.rstrip("%").strip())
    except InvalidOperation:
        raise InvalidInput("value", value, "is not a number") from None
    if not number.is_finite() or number < 0:
        raise InvalidInput("value", value, "must be a number of 0 or more")
    if percent and metric != "retention_rate":
        raise InvalidInput("value", value, f"a percentage is only meaningful for retention_rate, not {metric}")
    if metric == "new_customers":
        if number != number.to_integral_value():
            raise InvalidInput("value", value, "must be a whole number of customers")
        if number > 2**53:
            raise InvalidInput("value", value, "is too large")
        return float(int(number)), None
    if metric == "retention_rate":
        share = number / 100 if percent else number
        if share > 1:
            raise InvalidInput("value", value, "must be a share from 0 to 1, or a percentage such as 60%")
        return float(share), None
    if number > 36_500:
        raise InvalidInput("value", value, "is more than a century of days")
    return float(number), None


def _target(metric: str, value: float | None, amount_cents: int | None) -> Any:
    if metric == "revenue":
        return values.cents_to_amount(amount_cents)
    if metric == "new_customers":
        assert value is not None  # only revenue is kept in amount_cents (parse_value; the table's CHECK)
        return int(value)
    return value


def set_target(conn: Connection, metric: str, value: Any, *, per: str = "month") -> dict[str, Any]:
    """Set (or replace) the target for `metric` per month, quarter or year. Call inside a transaction."""
    name = metric_name(metric)
    kind = metrics.check_kind(per, "per")
    number, cents = parse_value(name, value)
    conn.execute(
        """INSERT INTO targets (metric, per, value, amount_cents, set_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (metric, per) DO UPDATE SET value = excluded.value, amount_cents = excluded.amount_cents,
                                                   set_at = excluded.set_at""",
        (name, kind, number, cents, values.now().isoformat()),
    )
    return {"metric": name, "per": kind, "direction": direction(name), "target": _target(name, number, cents)}


def remove(conn: Connection, metric: str, *, per: str = "month") -> None:
    name = metric_name(metric)
    kind = metrics.check_kind(per, "per")
    if conn.execute("DELETE FROM targets WHERE metric = ? AND per = ?", (name, kind)).rowcount == 0:
        raise NotFound(f"metric: no target for {name} per {kind}")


def targets_for(conn: Connection, per: str) -> dict[str, Any]:
    """metric -> target, for one kind of period."""
    return {row["metric"]: _target(row["metric"], row["value"], row["amount_cents"])
            for row in conn.execute("SELECT metric, value, amount_cents FROM targets WHERE per = ?", (per,))}


def list_targets(conn: Connection, *, as_of: date | None = None) -> list[dict[str, Any]]:
    """Every target, with the actual of the last complete period and whether it was met."""
    as_of = as_of or values.now().date()
    rows = []
    stored = conn.execute("SELECT metric, per, value, amount_cents, set_at FROM targets").fetchall()
    order = {kind: n for n, kind in enumerate(metrics.PERIOD_KINDS)}
    for row in sorted(stored, key=lambda r: (order[r["per"]], TARGET_METRICS.index(r["metric"])
                                             if r["metric"] in TARGET_METRICS else 99, r["metric"])):
        target = _target(row["metric"], row["value"], row["amount_cents"])
        period = metrics.last_complete(row["per"], as_of)
        actual = metrics.period_metrics(conn, period, (row["metric"],)).get(row["metric"])
        rows.append({
            "metric": row["metric"], "per": row["per"], "direction": direction(row["metric"]), "target": target,
            "last_period": period.label, "actual": actual, "met": metrics.target_met(row["metric"], actual, target),
            "set_at": row["set_at"],
        })
    return rows


def check(conn: Connection, *, per: str = "month", as_of: date | None = None) -> dict[str, Any]:
    """Judge the targets per `per` on the last complete period.

    Returns {"period": label, "targets": n, "missed": [...], "not_judged": [...]}; each
    missed entry has metric, actual, target and direction.
    """
    kind = metrics.check_kind(per)
    period = metrics.last_complete(kind, as_of or values.now().date())
    wanted = targets_for(conn, kind)
    actual = metrics.period_metrics(conn, period, tuple(wanted)) if wanted else {}
    missed, not_judged = [], []
    for metric in TARGET_METRICS:
        if metric not in wanted:
            continue
        met = metrics.target_met(metric, actual.get(metric), wanted[metric])
        entry = {"metric": metric, "actual": actual.get(metric), "target": wanted[metric],
                 "direction": direction(metric)}
        if met is None:
            not_judged.append(entry)
        elif not met:
            missed.append(entry)
    return {"period": period.label, "targets": len(wanted), "missed": missed, "not_judged": not_judged}
