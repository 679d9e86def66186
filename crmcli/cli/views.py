"""Rendering of single records (customer show, info): key/value on a terminal, one object in JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmcli.cli.common import OutputFormat
from crmcli.db import Connection

# The parts of a record that are lists of records: a CSV cell counts them, even when there are none.
_RECORD_LISTS = ("open_complaints", "open_followups", "timeline")
# customer show's columns that depend on the customer's history, present (empty) for every customer,
# so that `customer show --format csv` has the same header whoever it shows. The score keys are
# analytics.report.customer_scores' (tests/cli/test_scripts.py checks that they agree).
PROFILE_STATS = ("purchases", "purchase_records", "first_purchase", "last_purchase", "revenue", "average_purchase")
PROFILE_SCORES = ("segment", "rfm", "p_alive", "churn_risk", "expected_purchases_next_year", "predicted_clv",
                  "typical_gap_days", "model", "why")
_SHAPES = {"stats": PROFILE_STATS, "scores": PROFILE_SCORES}


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """One level: {'customer': {'name': ..}} -> {'name': ..}; lists of records become their count.
    `stats` and `scores` always give the same keys (empty cells when missing), so the columns do not
    depend on the customer's history."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if key in _SHAPES and (value is None or isinstance(value, dict)):
            known = value or {}
            flat.update({name: known.get(name) for name in _SHAPES[key]})
            flat.update(_flat({k: v for k, v in known.items() if k not in _SHAPES[key]}))
        elif isinstance(value, dict):
            flat.update(_flat(value))
        elif (key in _RECORD_LISTS and isinstance(value, list)) or (
                isinstance(value, list) and value and isinstance(value[0], dict)):
            flat[key] = len(value)
        else:
            flat[key] = value
    return flat


def render_record(record: dict[str, Any], fmt: OutputFormat | None, output: Path | None,
                  *, title: str | None = None) -> str:
    """A single record: a two-column table, one JSON object, or a one-row CSV/JSONL."""
    from crmcli import output as out

    chosen = out.choose_format(fmt.value if fmt else None, output)
    if chosen == "json":
        import json

        with out.destination(output) as stream:
            stream.write(json.dumps(_json_ready(record), ensure_ascii=False, indent=2) + "\n")
        return chosen
    flat = _flat(record)
    if chosen == "table":
        rows = [{"field": k.replace("_", " "), "value": v} for k, v in flat.items()]
        out.render(rows, out.columns("field", "value"), fmt="table", output=output, title=title)
    else:
        out.render([flat], out.columns(*flat), fmt=chosen, output=output)
    return chosen


def _json_ready(value: Any) -> Any:
    from crmcli.output import plain

    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return plain(value)


def customer_scores(conn: Connection, customer_id: int) -> dict[str, Any] | None:
    """The customer's RFM scores, P(alive), predicted value and why (filled in by the analytics), from the
    stored fits; the first time (no stored fit yet) the whole base is fitted, with a spinner on a terminal.
    Call inside the command's snapshot, then keep_scores_fits(conn, scores) after it."""
    from crmcli.analytics import fitset, report
    from crmcli.cli.report import _working
    from crmcli.values import now

    if fitset.for_customer(conn, report.DEFAULT_MODEL, now().date()) is not None:
        return report.customer_scores(conn, customer_id)
    with _working(conn, "fitting the models once (`crm report model --refit` in a nightly cron keeps them ready)"):
        return report.customer_scores(conn, customer_id)


def keep_scores_fits(conn: Connection, scores: dict[str, Any] | None) -> None:
    """After the snapshot: the notes of customer_scores and the fits it made, stored for the next show."""
    from crmcli.cli.common import note
    from crmcli.cli.report import keep_fits

    fits = getattr(scores, "fits", None)
    if fits is None:
        return
    for message in getattr(scores, "notes", []):
        note(f"note: {message}")
    keep_fits(conn, fits.fresh())


def show_profile(record: dict[str, Any], fmt: OutputFormat | None, output: Path | None) -> None:
    from crmcli import output as out

    chosen = out.choose_format(fmt.value if fmt else None, output)
    if chosen != "table":
        render_record(record, fmt, output)
        return
    customer = record["customer"]
    summary = {
        "id": customer["id"], "name": customer["name"], "email": customer["email"], "phone": customer["phone"],
        "company": customer["company"], "tags": customer["tags"], "since": customer["since"],
        "note": customer["note"], "external_id": customer["external_id"], **record["stats"],
        "open_complaints": len(record["open_complaints"]),
        "open_followups": len(record.get("open_followups") or []),
    }
    if record.get("scores"):
        summary.update(record["scores"])
    with out.destination(output) as stream:
        is_terminal = output is None and stream.isatty()
        rows = [{"field": k.replace("_", " "), "value": v} for k, v in summary.items() if v not in (None, [], "")]
        out.write_table(rows, out.columns("field", "value"), stream, title=customer["name"], is_terminal=is_terminal)
        # The notes are sentences: under their row on a narrow terminal.
        if record["open_complaints"]:
            out.write_table(record["open_complaints"], out.columns("id", "at", "category", "rating", "by", "note",
                                                                  numeric=("id", "rating"), sentences=("note",)),
                            stream, title="Open complaints", is_terminal=is_terminal)
        if record.get("open_followups"):
            from crmcli.cli.followup import when

            due = [{**row, "when": when(row.get("days_overdue"))} for row in record["open_followups"]]
            out.write_table(due, out.columns("id", "due", "when", "by", "note", numeric=("id",), sentences=("note",)),
                            stream, title="Open follow-ups", is_terminal=is_terminal)
        if record["timeline"]:
            out.write_table(record["timeline"], out.columns("at", "kind", "type", "amount", "by", "note",
                                                           numeric=("amount",), priority={"kind": 1},
                                                           sentences=("note",)),
                            stream, title="Recent timeline", is_terminal=is_terminal)
