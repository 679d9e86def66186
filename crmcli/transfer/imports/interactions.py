"""Importing interactions, the big files (years of till receipts): the bulk path.

prepare_chunk() runs every cell through its values.* parser (memoised per distinct
text), in worker processes for a big file; take_chunk(), in the main process, fills
in the customers and writes the rows with a few multi-row INSERTs
(tests/benchmarks/bench_import.py: 1.7 million rows).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, cast

from crmcli import db, interactions, values
from crmcli.errors import CrmError
from crmcli.transfer.csvcells import unescape
from crmcli.transfer.imports import indexes
from crmcli.transfer.imports.base import CACHE_LIMIT, Chunk, Importer, Rejected
from crmcli.transfer.imports.directory import NOT_FOUND, Directory

if TYPE_CHECKING:
    from crmcli.postgres import PgConnection

INSERT_ROWS = 512  # rows per INSERT statement on the bulk path
AMOUNT_CHECK_TRIGGER = "interactions_amount_insert"  # migrations.M005: set aside for a batch (see __init__)


ANALYZE_AFTER_ROWS = 10_000  # an import this big refreshes the server's statistics of the table


class InteractionImporter(Importer):
    """The bulk path, for the big files (years of till receipts). prepare_chunk() runs every
    cell through its values.* parser (memoised per distinct text), in worker processes for
    a big file; take_chunk(), in the main process, fills in the customers and writes the
    rows with a few multi-row INSERTs."""

    parallel = True
    checks_foreign_keys = True
    INSERT_COLUMNS = ("customer_id", "type", "at", "amount_cents", "staff", "note", "external_id", "created_at",
                      "batch_id")

    def __init__(self, *args: Any):
        super().__init__(*args)
        self._types: dict[str, str] = {}
        self._amounts: dict[str | None, int | None] = {}
        self._texts: dict[str, str | None] = {}
        self._statements: dict[int, str] = {}
        self._indexes_aside: list[str] = []
        self._existing_rows = self.conn.execute("SELECT coalesce(max(id), 0) FROM interactions").fetchone()[0]
        self._positions = [self.index.get(name) for name in ("type", "at", "amount", "by", "note", "external_id")]
        self._row_tail = (self.created_at, self.batch_id)
        # The customer cells' text (a tuple of them for several key columns, which makes this one dict the
        # garbage collector tracks, unlike the other memos) -> customer id: most rows name a customer seen
        # before.
        self._by_cells: dict[str | tuple[str, ...], int] = {}
        self._single_key = self._key_positions[0][1] if len(self._key_positions) == 1 else None
        # None: not loaded yet; False: does not apply (a file naming its customers by id, email or several keys)
        self._directory: Directory | None | Literal[False] = (
            None if [column for column, _ in self._key_positions] == ["customer_external_id"] else False)
        # customer_summary's per-row triggers set aside for the import (a recompute per row would cost
        # more than the insert, and read the table once the indexes are dropped); finish() recomputes
        # the customers the batch touched with one aggregate and makes them again, in this transaction.
        self._summary = interactions.SummaryAside(self.conn)
        self._customers_written: set[int] = set()  # for the recompute: cheaper than finding them again
        # M005's check of each new row's amount, set aside too: every amount here came through
        # values.amount_to_cents and interactions.check_amount, which refuse all it refuses, and the
        # trigger's run per row was a fifth of the INSERTs' time. finish() makes it again.
        self._amount_check = interactions.set_aside_trigger(self.conn, AMOUNT_CHECK_TRIGGER)

    def _insert_sql(self, rows: int) -> str:
        placeholders = "(" + ", ".join("?" * len(self.INSERT_COLUMNS)) + ")"
        # ON CONFLICT names external_id only: a row already recorded is skipped, while any
        # other constraint (a CHECK, a foreign key) still fails loudly.
        return (f"INSERT INTO interactions ({', '.join(self.INSERT_COLUMNS)}) VALUES "
                + ", ".join([placeholders] * rows) + " ON CONFLICT (external_id) DO NOTHING")

    # Each cell's parser: its values.* function, memoised per distinct text (bounded).
    def kind(self, cell: str) -> str:
        found = self._types.get(cell)
        if found is None:
            found = values.choice(unescape(cell), "type", interactions.INTERACTION_TYPES)
            self._types[cell] = found
        return found

    def cents(self, cell: str | None) -> int | None:
        try:
            return self._amounts[cell]
        except KeyError:
            cents = values.amount_to_cents(unescape(cell) if cell else cell, "amount")
            if len(self._amounts) >= CACHE_LIMIT:
                self._amounts.clear()
            self._amounts[cell] = cents
            return cents

    def staff(self, cell: str) -> str | None:
        try:
            return self._texts[cell]
        except KeyError:
            cleaned = values.text(unescape(cell), "by")
            if len(self._texts) >= CACHE_LIMIT:
                self._texts.clear()
            self._texts[cell] = cleaned
            return cleaned

    def prepare_chunk(self, rows: list[tuple[int, list[str]]]) -> Chunk:
        """Every row's values, flat, as the INSERT takes them, with the customer_id slot left for
        take_chunk(); and the bad rows. No database: may run in a worker process."""
        chunk = Chunk(rows)
        params, keys, positions, bad = chunk.params, chunk.customer_cells, chunk.positions, chunk.bad
        single_key, key_positions, prepare = self._single_key, self._key_positions, self.prepare
        width = self.width
        for position, (line, cells) in enumerate(rows):
            prepared: Any = prepare(cells) if len(cells) == width else self.width_problem(cells, line)
            if type(prepared) is Rejected:
                bad.append((position, prepared))
                continue
            params.append(None)
            params.extend(prepared)
            keys.append(cells[single_key] if single_key is not None else tuple([cells[p] for _, p in key_positions]))
            positions.append(position)
        return chunk

    def prepare(self, raw: list[str]) -> Any:
        """The row's values after customer_id, or its problems."""
        t, a, m, b, n, e = self._positions
        try:
            kind = self.kind(raw[t])  # type: ignore[index]  # type and at are required columns
            amount = raw[m] if m is not None else None
            cents = self.cents(amount)
            interactions.check_amount(kind, cents, amount or "")
            return (kind, self.when(raw[a], "at"), cents,  # type: ignore[index]
                    self.staff(raw[b]) if b is not None else None,
                    values.text(unescape(raw[n]), "note") if n is not None and raw[n] else None,
                    values.text(unescape(raw[e]), "external_id") if e is not None and raw[e] else None,
                    *self._row_tail)
        except CrmError:
            return self.every_problem(raw)

    def every_problem(self, raw: list[str]) -> Rejected:
        """A bad row, checked cell by cell with the same parsers, so that every problem in it is listed."""
        def cell(name: str) -> str | None:
            return raw[self.index[name]] if name in self.index else None

        problems: list[CrmError] = []
        parsed: dict[str, Any] = {}
        parsers: tuple[tuple[str, Callable[[Any], Any]], ...] = (
            ("type", self.kind), ("at", lambda v: self.when(v, "at")), ("amount", self.cents),
            ("by", lambda v: self.staff(v or "")),
            ("note", lambda v: values.text(unescape(v or ""), "note")),
            ("external_id", lambda v: values.text(unescape(v or ""), "external_id")),
        )
        for column, parse in parsers:
            try:
                parsed[column] = parse(cell(column))
            except CrmError as exc:
                problems.append(exc)
        if "type" in parsed and "amount" in parsed:
            try:
                interactions.check_amount(parsed["type"], parsed["amount"], cell("amount") or "")
            except CrmError as exc:
                problems.append(exc)
        return Rejected(problems, customer_keys=True)

    def take_chunk(self, chunk: Chunk) -> tuple[int, list[tuple[list[str], list[str]]]]:
        """Fill in each row's customer (memoised by the customer cells' text), write the rows."""
        params, unknown = self.fill_customers(chunk)
        bad = []
        for position, rejected in sorted([*chunk.bad, *((p, r) for _, p, r in unknown)], key=lambda item: item[0]):
            line, cells = chunk.rows[position]
            if rejected.customer_keys:
                try:  # so that an unknown customer is listed with the row's other problems
                    self.customer_id(self.customer_keys(cells), cells)
                except CrmError as exc:
                    rejected.problems.append(exc)
            bad.append((cells, self.describe(rejected.problems, line)))
        self.write(params)
        return chunk.size, bad

    def fill_customers(self, chunk: Chunk) -> tuple[list[Any], list[tuple[int, int, Rejected]]]:
        """The good rows' INSERT values with their customer ids, and the rows whose customer is not there:
        (index among the good rows, position in the chunk, problem)."""
        width = len(self.INSERT_COLUMNS)
        by_cells = self._by_cells
        params = chunk.params
        unknown = []
        if db.is_server(self.conn):  # one query for the chunk's new customers (look_up_customers)
            self.look_up_customers([_key_cells(cells) for cells in set(chunk.customer_cells) if cells not in by_cells])
        # Past the memo's limit, a directory of every customer (directory.py says why), where it applies.
        found = (self._directory.find(cast("list[str]", chunk.customer_cells))  # one key column: its cells
                 if self._directory else None)
        for index, cells_text in enumerate(chunk.customer_cells):
            customer_id = by_cells.get(cells_text) if found is None or found[index] == NOT_FOUND else found[index]
            if customer_id is None:
                position = chunk.positions[index]
                # The keys from the customer cells alone: a row prepared in a worker is not here, and
                # parsing its block again for it took a tenth of a big import (the first sight of
                # each customer). Only a customer to create needs the row, for its name.
                raw = chunk.rows[position][1] if self.options.create_missing else None
                try:
                    customer_id = self.customer_id(self.keys_of(_key_cells(cells_text)), raw, remember=False)
                except CrmError as exc:
                    unknown.append((index, position, Rejected([exc])))
                    continue
                if len(by_cells) >= CACHE_LIMIT:
                    by_cells.clear()
                    if self._directory is None:
                        self._directory = Directory.load(self.conn) or False
                by_cells[cells_text] = customer_id
            params[index * width] = customer_id
        if unknown:
            dropped = {index for index, _, _ in unknown}
            params = [value for index in range(len(chunk.positions)) if index not in dropped
                      for value in params[index * width:(index + 1) * width]]
        return params, unknown

    def write(self, params: list) -> None:
        """INSERT statements of INSERT_ROWS rows, the rest in power-of-two sizes: a handful of
        distinct statements, so that SQLite's statement cache stays small (each is big)."""
        width = len(self.INSERT_COLUMNS)
        self._customers_written.update(params[::width])
        if db.is_server(self.conn):  # one COPY a block, then one INSERT ... SELECT (postgres.copy_in)
            block = [params[at:at + width] for at in range(0, len(params), width)]
            inserted = cast("PgConnection", self.conn).copy_in("interactions", self.INSERT_COLUMNS, block,
                                                               conflict="external_id")
            self.added += inserted
            self.skipped += len(block) - inserted
            return
        rows, start = len(params) // width, 0
        while rows:
            size = INSERT_ROWS if rows >= INSERT_ROWS else 1 << (rows.bit_length() - 1)
            sql = self._statements.get(size)
            if sql is None:
                sql = self._statements[size] = self._insert_sql(size)
            inserted = self.conn.execute(sql, params[start * width:(start + size) * width]).rowcount
            self.added += inserted
            self.skipped += size - inserted
            start += size
            rows -= size
        if not self._indexes_aside and indexes.worth_rebuilding(self.added, self._existing_rows):
            self._indexes_aside = indexes.drop_secondary_indexes(self.conn, "interactions",
                                                                 keep=("interactions_batch",))

    def finish(self, rebuild: bool = True) -> None:
        if self._amount_check is not None:  # first, whether or not the import goes on to commit
            self.conn.execute(self._amount_check)
        if not rebuild:
            return
        indexes.rebuild(self.conn, self._indexes_aside)
        if db.is_server(self.conn) and self.added >= ANALYZE_AFTER_ROWS:
            # The planner's figures for the table, now that it has grown: without them the summary's
            # recompute below sorted every row on disk (12 s at 1.7 million rows; 6.6 s after this 0.3 s).
            # ANALYZE neither blocks readers and writers nor outlives a rollback.
            self.conn.execute("ANALYZE interactions")
        self._summary.touch_ids(self._customers_written)
        self._summary.restore()
        # The foreign key check SQLite skipped row by row, once for the whole table (through the
        # index on customer_id this is a fraction of a second for millions of rows).
        orphan = self.conn.execute(
            """SELECT id FROM (SELECT DISTINCT customer_id AS id FROM interactions) used
                WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = used.id) LIMIT 1""").fetchone()
        if orphan is not None:
            raise sqlite3.IntegrityError(f"import: interactions would point at customer {orphan[0]}, "
                                         "which does not exist (a crmcli bug; nothing was written)")


def _key_cells(customer_cells: str | tuple[str, ...]) -> Sequence[str]:
    """A chunk's customer_cells entry as keys_of() takes it."""
    return (customer_cells,) if type(customer_cells) is str else customer_cells
