"""What every importer shares: a row's width, its date cells, the customer it names, and how its
problems are said ('line N, column C: what is wrong ('value')')."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from crmcli import customers, values
from crmcli.db import Connection
from crmcli.errors import CrmError, InvalidInput
from crmcli.transfer.csvcells import unescape
from crmcli.transfer.imports.header import CUSTOMER_KEYS
from crmcli.transfer.imports.options import Options

CACHE_LIMIT = 100_000  # entries per parse cache before it is emptied: memory stays bounded
# A date-time as values.when writes it; [0-9], not \d, which takes other scripts' digits too.
_PLAIN_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_FIRST_DAY, _LAST_DAY = values.FIRST_DAY.isoformat(), values.LAST_DAY.isoformat()
_DATE_LIKE = re.compile(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}")  # 03/04/2024, 3.4.24: not ISO
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%X", "%c", "%T", "%R")

FIND_CUSTOMER = {
    "customer_id": "SELECT id FROM customers WHERE id = CAST(? AS INTEGER)",
    "customer_external_id": "SELECT id FROM customers WHERE external_id = ?",
    "customer_email": "SELECT id FROM customers WHERE email_key = ?",  # the key is values.email_key(email)
}
# FIND_CUSTOMER for many keys in one query, on a server (PostgreSQL's unnest of a text array): there a
# query per customer is a round trip, 100,000 of them 20 s of an import of 1.7 million purchases. The keys
# are FIND_CUSTOMER's (a customer_id key is ASCII digits, so its cast cannot fail).
_MATCHES_KEY = {"customer_id": "c.id = CAST(k AS BIGINT)", "customer_external_id": "c.external_id = k",
                "customer_email": "c.email_key = k"}
_FIND_CUSTOMERS_ON_SERVER = {column: f"SELECT k, c.id FROM unnest(CAST(? AS TEXT[])) AS k JOIN customers c ON {match}"
                             for column, match in _MATCHES_KEY.items()}


class Rejected:
    """A row found bad before it reached the database: its problems (CrmErrors, or finished
    messages), and whether its customer should still be looked up to report that too."""

    __slots__ = ("problems", "customer_keys")

    def __init__(self, problems: list, customer_keys: bool = False):
        self.problems = problems
        self.customer_keys = customer_keys


class Chunk:
    """A chunk of interaction rows, prepared (in a worker process or not), ready for take_chunk()."""

    __slots__ = ("size", "rows", "params", "customer_cells", "positions", "bad")

    def __init__(self, rows: list[tuple[int, list[str]]]):
        self.size = len(rows)
        self.rows: Any = rows  # (first line, cells); from a worker, blocks.ChunkRows
        self.params: list[Any] = []  # the good rows' INSERT values, flat; customer_id still None
        # Per good row: its customer cell, or a tuple of them when the file names customers by several.
        self.customer_cells: list[str | tuple[str, ...]] = []
        self.positions: list[int] = []  # per good row: its position in rows
        self.bad: list[tuple[int, Rejected]] = []  # (position in rows, problems)


class Importer:
    """prepare_chunk() checks rows without the database (it may run in a worker process);
    take_chunk() finishes them with the database. Customers and feedback go row by row
    through take_row(), which returns the row's problems (none: it was taken)."""

    parallel = False  # True: prepare_chunk() may run in worker processes
    checks_foreign_keys = False  # True: SQLite's foreign key enforcement is off while it runs

    def __init__(self, conn: Connection, batch_id: int, header: list[str | None], options: Options):
        self.conn = conn
        self.batch_id = batch_id
        self.header = header  # crm's name of each column (after --map); None: a column left out
        self.width = len(header)
        self.index = {name: n for n, name in enumerate(header) if name is not None}
        self.options = options
        # crm's name -> the file's, for the columns --map renamed: problems name both.
        self.spelled = {target: given for given, target in options.columns if target is not None}
        self.added = self.updated = self.skipped = self.customers_created = 0
        self.created_at = values.now().isoformat()
        # The latest moment a row may have (values.when refuses the future), as text: see when().
        self._latest = values.now().replace(microsecond=0).isoformat()
        # Memo caches are keyed by the cell's text per column: a dict of only strings and ints
        # is not tracked by the garbage collector, so big caches cost it nothing.
        self._dates: dict[str, dict[str | None, str | None]] = {}
        self._customer_ids: dict[str, dict[str, int]] = {column: {} for column in CUSTOMER_KEYS}
        self._key_positions = [(column, self.index[column]) for column in CUSTOMER_KEYS if column in self.index]

    def prepare_chunk(self, rows: list[tuple[int, list[str]]]) -> Any:
        """Whatever can be checked without the database. May run in a worker process."""
        return [(line, cells, self.width_problem(cells, line)) for line, cells in rows]

    def take_chunk(self, chunk: Any) -> tuple[int, list[tuple[list[str], list[str]]]]:
        """Finish a prepared chunk with the database: (rows in it, [(cells, problems) of each bad row])."""
        bad = []
        for line, cells, rejected in chunk:
            problems = self.describe(rejected.problems, line) if rejected else self.take_row(cells, line)
            if problems:
                bad.append((cells, problems))
        return len(chunk), bad

    def width_problem(self, cells: list[str], line: int) -> Rejected | None:
        if len(cells) == self.width:
            return None
        # A line of a JSON Lines file that gave no row (jsonl.BadRecord) comes with its problems.
        found = getattr(cells, "problems", None)
        if found is not None:
            return Rejected(list(found))
        return Rejected([f"line {line}: has {len(cells)} cells, the header has {self.width}"])

    def take_row(self, raw: list[str], line: int) -> list[str]:
        raise NotImplementedError

    def finish(self, rebuild: bool = True) -> None:
        """After the last row. rebuild=False: the transaction will be rolled back, so skip costly work."""

    def describe(self, problems: list, line: int) -> list[str]:
        return [p if isinstance(p, str) else problem(line, p, self.index, self.spelled) for p in problems]

    def cells(self, raw: list[str]) -> dict[str, str]:
        """The row by column name, with the formula apostrophe of crm's own CSV output taken off."""
        return {name: unescape(raw[n]) for name, n in self.index.items()}

    # --- dates

    def date_text(self, value: str | None, column: str) -> str | None:
        """A date cell as ISO 8601 text for values.when/values.day: converted with --date-format when given."""
        if value is None or not value.strip():
            return None
        fmt = self.options.date_format
        if fmt is None:
            return value
        try:
            parsed = datetime.strptime(value.strip(), fmt)
        except ValueError:
            raise InvalidInput(column, value, f"does not match --date-format {fmt!r}") from None
        if any(directive in fmt for directive in _TIME_DIRECTIVES):
            return parsed.isoformat(timespec="seconds")
        return parsed.date().isoformat()

    def parse_date(self, parse: Callable[[str | None, str], Any], value: str | None, column: str) -> Any:
        """values.when or values.day on a date cell. Without --date-format only ISO 8601 is read:
        a date such as 03/04/2024 is refused with a hint, never guessed (3 April or March 4?)."""
        try:
            return parse(self.date_text(value, column), column)
        except InvalidInput:
            if self.options.date_format is None and value and _DATE_LIKE.match(value):
                raise InvalidInput(column, value, "is not an ISO 8601 date (YYYY-MM-DD); for a file that writes "
                                   "dates like this, give --date-format, e.g. '%d/%m/%Y' or '%m/%d/%Y'") from None
            raise

    def when(self, value: str | None, column: str) -> str | None:
        """A required moment (at): values.when, memoised per distinct text (bounded)."""
        cache = self._dates.setdefault(column, {})
        cached = cache.get(value)
        if cached is not None:
            return cached
        if value is None or not value.strip():
            raise InvalidInput(column, value or "", "is required in an import (the date it happened)")
        if self.options.date_format is None and len(value) == 19 and self._plain_moment(value):
            return value
        if self.options.date_format is None and value[:1].isdigit():
            try:  # the common case first: ISO 8601 straight to values.when
                result = values.when(value, column)
            except InvalidInput:
                result = self.parse_date(values.when, value, column)
        else:
            result = self.parse_date(values.when, unescape(value), column)
        if len(value) <= 10:  # a date repeats on many rows; a date-time rarely does
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[value] = result
        return result

    def _plain_moment(self, value: str) -> bool:
        """Whether `value` is a date-time exactly as values.when would write it ('YYYY-MM-DDTHH:MM:SS'),
        within its calendar and not in the future: then values.when would return it unchanged. A till's
        export is mostly such cells, one per row and rarely repeated (so the memo does not help them).
        The shape and the range are compared as text (a date in this form sorts as text does), and
        datetime only says whether the day and time exist: 0.5 µs a cell, where parsing and writing it
        back took 0.9 µs, and values.when four times that."""
        if _PLAIN_MOMENT.fullmatch(value) is None or not _FIRST_DAY <= value[:10] <= _LAST_DAY \
                or value > self._latest:
            return False
        try:
            datetime.fromisoformat(value)  # no 2023-02-29, no 24:00:00
        except ValueError:
            return False
        return True

    # --- the customer a row names

    def customer_keys(self, raw: list[str]) -> list[tuple[str, str, str]]:
        """(column, lookup key, cell) for each filled customer_id / customer_external_id /
        customer_email cell, in that order."""
        return self.keys_of([raw[position] for _, position in self._key_positions])

    def keys_of(self, key_cells: Sequence[str]) -> list[tuple[str, str, str]]:
        """customer_keys() of a row's customer cells alone, in the order of _key_positions."""
        keys = []
        for (column, _), cell in zip(self._key_positions, key_cells, strict=True):
            if not unescape(cell).strip():
                continue  # empty, or only an escaping apostrophe and blanks ("'\t"): names no one
            if column == "customer_id":
                cleaned = unescape(cell).strip()
                # The length first: int() refuses more than 4,300 digits with a ValueError.
                if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 19 \
                        or int(cleaned) > customers.SQLITE_MAX_INTEGER:
                    raise InvalidInput(column, cell, "is not a customer id (a whole number)")
                keys.append((column, cleaned, cell))
            elif column == "customer_email":
                email = values.email(unescape(cell), column)
                assert email is not None  # the cell is not blank
                keys.append((column, values.email_key(email), cell))
            else:
                text = values.text(unescape(cell), column)
                assert text is not None  # the cell is not blank
                keys.append((column, text, cell))
        if not keys:
            raise InvalidInput(self._key_positions[0][0], "", "is empty; every row must name its customer "
                               "(customer_id, customer_external_id or customer_email)")
        return keys

    def look_up_customers(self, rows_key_cells: list[Sequence[str]]) -> None:
        """Find the customers these rows name (by their customer cells, as keys_of() takes them) with one
        query per key column (on a server: there a query per customer is a round trip; in-process SQLite's
        cost microseconds), into the caches customer_id() reads first (rows whose keys are bad are left to
        it, to say so)."""
        wanted: dict[str, set[str]] = {column: set() for column in CUSTOMER_KEYS}
        for key_cells in rows_key_cells:
            try:
                keys = self.keys_of(key_cells)
            except CrmError:
                continue
            for column, key, _ in keys:
                if key not in self._customer_ids[column]:
                    wanted[column].add(key)
        for column, keys_ in wanted.items():
            if not keys_:
                continue
            cache = self._customer_ids[column]
            if len(cache) + len(keys_) > CACHE_LIMIT:
                cache.clear()
            found = self.conn.execute(_FIND_CUSTOMERS_ON_SERVER[column], (sorted(keys_),)).fetchall()
            cache.update((row[0], row[1]) for row in found)

    def customer_id(self, keys: list[tuple[str, str, str]], raw: list[str] | None, *, remember: bool = True) -> int:
        """The first of the keys that names a customer. With --create-missing, a customer named
        by external id or email that is not there is created (through customers.add), in this batch,
        with the name in the row `raw` (which may be None without --create-missing).
        remember=False: the caller keeps its own memo (the bulk path), so do not keep a second one."""
        for column, key, _ in keys:
            cache = self._customer_ids[column]
            found = cache.get(key)
            if found is not None:
                return found
            row = self.conn.execute(FIND_CUSTOMER[column], (key,)).fetchone()
            if row is not None:
                if remember:
                    if len(cache) >= CACHE_LIMIT:
                        cache.clear()
                    cache[key] = row[0]
                return row[0]
        if self.options.create_missing:
            assert raw is not None  # the caller passes the row with --create-missing
            return self.create_customer(keys, raw)
        column, _, cell = keys[0]
        what = {"customer_id": "id", "customer_external_id": "external_id", "customer_email": "email"}[column]
        hint = "" if column == "customer_id" else "; import the customers first, or use --create-missing"
        raise InvalidInput(column, cell, f"no customer has this {what}{hint}")

    def create_customer(self, keys: list[tuple[str, str, str]], raw: list[str]) -> int:
        given = {column: cell for column, _, cell in keys}
        if "customer_id" in given:
            raise InvalidInput("customer_id", given["customer_id"], "no customer has this id "
                               "(--create-missing creates customers named by external_id or email, not by id)")
        external_id = values.text(unescape(given.get("customer_external_id", "")), "customer_external_id")
        email = values.email(unescape(given.get("customer_email", "")), "customer_email")
        name_cell = raw[self.index["customer_name"]] if "customer_name" in self.index else ""
        name = values.text(unescape(name_cell), "customer_name") or email or external_id
        try:
            new_id = customers.add(self.conn, name, email=email, external_id=external_id)  # type: ignore[arg-type]
        except CrmError as exc:
            raise renamed(exc, {"name": "customer_name", "email": "customer_email",
                                "external_id": "customer_external_id"}) from None
        self.conn.execute("UPDATE customers SET batch_id = ? WHERE id = ?", (self.batch_id, new_id))
        self.customers_created += 1
        for column, key, _ in keys:
            self._customer_ids[column][key] = new_id
        return new_id


def _field_and_problem(exc: CrmError) -> tuple[str | None, str]:
    """(the field an error names, what it says of it), from the error's own fields."""
    if isinstance(exc, InvalidInput):
        return exc.field, f"{exc.problem} ({exc.value!r})"
    return exc.field, exc.problem


def renamed(exc: CrmError, names: dict[str, str]) -> CrmError:
    """The core names fields as its own arguments; an import names them as the file's columns."""
    field, said = _field_and_problem(exc)
    if field is None or field not in names:
        return exc
    if isinstance(exc, InvalidInput):
        return InvalidInput(names[field], exc.value, exc.problem)
    return type(exc)(said, field=names[field])


def problem(line: int, exc: CrmError, columns: dict[str, int], spelled: dict[str, str] | None = None) -> str:
    """'line N, column C: what is wrong ('value')' when the error names one of the file's columns;
    'column C (file column 'F')' for a column --map renamed."""
    field, said = _field_and_problem(exc)
    if field is not None and field in columns:
        if spelled and field in spelled:
            return f"line {line}, column {field} (file column {spelled[field]!r}): {said}"
        return f"line {line}, column {field}: {said}"
    return f"line {line}: {exc.message}"
