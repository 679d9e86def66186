"""Importing customers: each row through customers.add (or customers.edit with --on-conflict update),
matched to a customer already there by external_id, then email, then id and name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crmcli import customers, values
from crmcli.errors import Conflict, CrmError, InvalidInput
from crmcli.transfer.imports.base import FIND_CUSTOMER, Importer, renamed

# The largest id an import's `id` column may set: 15 digits. New customers get one more than any
# id ever used, so an import of 2**63 - 1 would block every later `crm customer add`; below this
# bound 2**63 - 10**15 ids are left, and every id stays exact in JSON readers (below 2**53).
MAX_IMPORTED_ID = 10**15 - 1


class CustomerImporter(Importer):
    """Customers go in through customers.add and change through customers.edit; matching is here."""

    def __init__(self, *args: Any):
        super().__init__(*args)
        # The customers this file has already added or matched: a second row for one of them is an error.
        # A temporary table keeps this on disk, so memory stays flat for any number of customers.
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS import_seen (customer_id INTEGER PRIMARY KEY)")
        self.conn.execute("DELETE FROM temp.import_seen")

    def finish(self, rebuild: bool = True) -> None:
        self.conn.execute("DROP TABLE temp.import_seen")

    def take_row(self, raw: list[str], line: int) -> list[str]:
        parsed, problems = self.parse(self.cells(raw))
        if problems:
            return self.describe(problems, line)
        self.conn.execute("SAVEPOINT import_row")
        try:
            outcome = self.apply(parsed)
        except CrmError as exc:
            self.conn.execute("ROLLBACK TO import_row")
            self.conn.execute("RELEASE import_row")
            return self.describe([renamed(exc, {"tag": "tags", "add-tag": "tags"})], line)
        self.conn.execute("RELEASE import_row")
        setattr(self, outcome, getattr(self, outcome) + 1)
        return []

    def parse(self, cells: dict[str, str]) -> tuple[dict[str, Any], list[CrmError]]:
        """Every cell through values.* (and the core's tag rule); every problem, not just the first."""
        parsed: dict[str, Any] = {}
        problems: list[CrmError] = []

        def check(column: str, parse: Callable[[], Any]) -> None:
            try:
                parsed[column] = parse()
            except CrmError as exc:
                problems.append(exc)

        check("name", lambda: values.text(cells.get("name"), "name", required=True))
        check("email", lambda: values.email(cells.get("email"), "email"))
        for column in ("phone", "company", "note", "external_id"):
            check(column, lambda column=column: values.text(cells.get(column), column))  # type: ignore[misc]
        check("since", lambda: self.day(cells.get("since")))
        # The core's own tag rule (customers.add applies it too); its error names the column.
        check("tags", lambda: customers._clean_tags(
            [tag for tag in (cells.get("tags") or "").split(";") if tag.strip()], "tags"))
        check("id", lambda: self.requested_id(cells.get("id")))
        return parsed, problems

    def day(self, value: str | None) -> str | None:
        day = self.parse_date(values.day, value, "since")
        return day.isoformat() if day else None

    @staticmethod
    def requested_id(value: str | None) -> int | None:
        if value is None or not value.strip():
            return None
        cleaned = value.strip()
        if not (cleaned.isascii() and cleaned.isdigit()) or not cleaned.strip("0"):
            raise InvalidInput("id", value, "is not a customer id (a whole number)")
        # The length first: int() refuses more than 4,300 digits with a ValueError.
        if len(cleaned.lstrip("0")) > len(str(MAX_IMPORTED_ID)) or int(cleaned) > MAX_IMPORTED_ID:
            raise InvalidInput("id", value, f"is above {MAX_IMPORTED_ID}, the largest id an import may set (so that "
                               "customers added later still get one); leave it empty to give this customer a new one")
        return int(cleaned)

    def apply(self, row: dict[str, Any]) -> str:
        match = self.match(row)
        if match is None:
            return self.add(row)
        matched_by, current = match
        seen = self.conn.execute("INSERT INTO temp.import_seen VALUES (?) ON CONFLICT DO NOTHING", (current["id"],))
        if seen.rowcount == 0:
            raise Conflict(f"{row[matched_by]!r} is the same customer as an earlier row of this file", field=matched_by)
        if self.options.on_conflict == "fail":
            raise Conflict(f"{row[matched_by]!r} already belongs to customer {current['id']} "
                           f"({current['name']}); --on-conflict skip or update to accept it", field=matched_by)
        if self.options.on_conflict == "skip":
            return "skipped"
        return self.update(current, row)

    def match(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The customer this row is: same external_id, else same email, else same id and name."""
        by_external = by_email = None
        if row["external_id"] is not None:
            found = self.conn.execute(FIND_CUSTOMER["customer_external_id"], (row["external_id"],)).fetchone()
            by_external = customers.get(self.conn, found[0]) if found else None
        if row["email"] is not None:
            found = self.conn.execute(FIND_CUSTOMER["customer_email"], (values.email_key(row["email"]),)).fetchone()
            by_email = customers.get(self.conn, found[0]) if found else None
        if by_external is not None:
            if by_email is not None and by_email["id"] != by_external["id"]:
                raise Conflict(f"{row['email']!r} belongs to customer {by_email['id']} ({by_email['name']}), "
                               f"but external_id {row['external_id']!r} is customer {by_external['id']} "
                               f"({by_external['name']})", field="email")
            return "external_id", by_external
        if by_email is not None:
            if row["external_id"] is not None and by_email["external_id"] is not None:
                raise Conflict(f"{row['email']!r} belongs to customer {by_email['id']} ({by_email['name']}), "
                               f"whose external_id is {by_email['external_id']!r}, not {row['external_id']!r}",
                               field="email")
            return "email", by_email
        if row["id"] is not None:
            found = self.conn.execute(FIND_CUSTOMER["customer_id"], (row["id"],)).fetchone()
            if found:
                current = customers.get(self.conn, found[0])
                if values.fold(current["name"]) != values.fold(row["name"]):
                    raise Conflict(f"{row['id']} is already customer {current['name']!r}; leave the id "
                                   "cell empty to add this row as a new customer", field="id")
                return "id", current
        return None

    def add(self, row: dict[str, Any]) -> str:
        new_id = customers.add(self.conn, row["name"], email=row["email"], phone=row["phone"],
                               company=row["company"], note=row["note"], external_id=row["external_id"],
                               since=row["since"], tags=row["tags"], customer_id=row["id"])
        self.conn.execute("UPDATE customers SET batch_id = ? WHERE id = ?", (self.batch_id, new_id))
        self.conn.execute("INSERT INTO temp.import_seen VALUES (?)", (new_id,))
        return "added"

    def update(self, current: dict[str, Any], row: dict[str, Any]) -> str:
        """--on-conflict update: cells that are filled replace what is there; tags are added, never removed."""
        changes = {column: row[column] for column in ("name", "email", "phone", "company", "note")
                   if row[column] is not None and row[column] != current[column]}
        new_tags = [tag for tag in row["tags"] if tag not in current["tags"]]
        if changes or new_tags:
            customers.edit(self.conn, current["id"], add_tags=new_tags, **changes)
        extra = {}
        if row["external_id"] is not None and current["external_id"] is None:
            extra["external_id"] = row["external_id"]
        if row["since"] is not None and row["since"] != current["since"]:
            extra["since"] = row["since"]
        if extra:
            assignments = ", ".join(f"{column} = ?" for column in extra)
            self.conn.execute(f"UPDATE customers SET {assignments}, updated_at = ? WHERE id = ?",
                              (*extra.values(), values.now().isoformat(), current["id"]))
        return "updated" if changes or new_tags or extra else "skipped"
