"""Importing feedback: each row through feedback.add, one at a time (feedback files are small)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmcli import feedback, values
from crmcli.errors import CrmError, InvalidInput
from crmcli.transfer.imports.base import Importer


class FeedbackImporter(Importer):
    """Feedback goes in through feedback.add, one row at a time (feedback files are small)."""

    def take_row(self, raw: list[str], line: int) -> list[str]:
        cells = self.cells(raw)
        problems: list[CrmError] = []
        parsed: dict[str, Any] = {}
        parsers: tuple[tuple[str, Callable[[str | None], Any]], ...] = (
            ("external_id", lambda v: values.text(v, "external_id")),
            ("at", self.required_date),
            ("resolved_at", self.optional_date),
            ("customer", lambda v: self.customer_keys(raw)),
        )
        for column, parse in parsers:
            try:
                parsed[column] = parse(cells.get(column))
            except CrmError as exc:
                problems.append(exc)
        if problems:
            return self.describe(problems, line)
        if parsed["external_id"] is not None and self.conn.execute(
                "SELECT 1 FROM feedback WHERE external_id = ?", (parsed["external_id"],)).fetchone():
            self.skipped += 1
            return []
        self.conn.execute("SAVEPOINT import_row")
        try:
            new_id = feedback.add(
                self.conn, self.customer_id(parsed["customer"], raw), cells.get("type", ""),
                rating=cells.get("rating"), category=cells.get("category"), by=cells.get("by"),
                note=cells.get("note"), at=parsed["at"], external_id=parsed["external_id"],
                resolved_at=parsed["resolved_at"], resolution_note=cells.get("resolution_note"),
            )
            self.conn.execute("UPDATE feedback SET batch_id = ? WHERE id = ?", (self.batch_id, new_id))
        except CrmError as exc:
            self.conn.execute("ROLLBACK TO import_row")
            self.conn.execute("RELEASE import_row")
            return self.describe([exc], line)
        self.conn.execute("RELEASE import_row")
        self.added += 1
        return []

    def required_date(self, value: str | None) -> str:
        """--date-format applied; feedback.add parses and checks the result with values.when."""
        if value is None or not value.strip():
            raise InvalidInput("at", value or "", "is required in an import (the date it happened)")
        return self.parse_date(values.when, value, "at")

    def optional_date(self, value: str | None) -> str | None:
        return self.parse_date(lambda v, column: values.when(v, column, default_now=False), value, "resolved_at")
