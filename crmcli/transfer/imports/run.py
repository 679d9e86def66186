"""Importing CSV files: customers, interactions (purchases, refunds, calls...) and feedback.

The promises, in the order they shape this module:

* All or nothing. One import is one transaction. By default a single bad row
  rolls everything back, and every bad row is reported as
  `line N, column C: what is wrong ('value')`. With skip_invalid the good rows
  go in and the bad ones are written, with an `error` column, to a rejects file.
* The same checks as typed data. Every value goes through crmcli.values (the
  one place dates, amounts, emails and ratings are parsed); customers and
  feedback go in through the core add functions. Interactions, the big files
  (years of till receipts), take a bulk path: the same values.* parser per cell,
  run in worker processes on blocks of the file, and rows written hundreds at a
  time by the main process (tests/benchmarks/bench_import.py: 1.7 million rows).
* Re-running is safe. Customers match on external_id, then email; interactions
  and feedback whose external_id is already recorded are skipped.
* Undo. Every import is a batch (import_batches) and every row it adds carries
  the batch id.
* Constant memory. The file is read a line or a block at a time (stdin too);
  only a few blocks are in flight; the memo caches are bounded.
"""

from __future__ import annotations

import collections
import csv
import gc
import io
import itertools
import marshal
import multiprocessing
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, BinaryIO, TextIO

from crmcli import csvfiles, customers, db, feedback, interactions, values
from crmcli.errors import Conflict, CrmError, InvalidInput, NotFound

KINDS = ("customers", "interactions", "feedback")
ON_CONFLICT = ("skip", "update", "fail")
CUSTOMER_KEYS = ("customer_id", "customer_external_id", "customer_email")

# The columns each importer reads (README, "Importing"), and which must be there.
COLUMNS = {
    "customers": ("id", "name", "email", "phone", "company", "tags", "note", "external_id", "since"),
    "interactions": (*CUSTOMER_KEYS, "customer_name", "type", "at", "amount", "by", "note", "external_id"),
    "feedback": (*CUSTOMER_KEYS, "customer_name", "type", "rating", "category", "by", "note", "at",
                 "resolved_at", "resolution_note", "external_id"),
}
REQUIRED = {"customers": ("name",), "interactions": ("type", "at"), "feedback": ("type", "at")}
# A rejects file adds this column; it is ignored, so a fixed rejects file can be imported as it is.
ERROR_COLUMN = "error"

MAX_LISTED_ERRORS = 20
CHUNK_ROWS = 2000  # rows read and checked together
INSERT_ROWS = 512  # rows per INSERT statement on the bulk path
BLOCK_BYTES = 1 << 20  # bytes of the file a worker process prepares at a time
MAX_WORKERS = 4
MAX_CARRY_BYTES = 8 * BLOCK_BYTES  # a record longer than this stops the splitting into blocks
CACHE_LIMIT = 100_000  # entries per parse cache before it is emptied: memory stays bounded
# On the bulk path, once this many rows are in and they are at least a quarter of the
# table, the table's secondary indexes are dropped and rebuilt at the end, in the same
# transaction: one sort instead of a random B-tree insert per row and index. (Undo
# deletes a big batch the same way.)
BULK_INDEX_THRESHOLD = 2_000
# Hostile files: a header with this many columns is refused (every kind has ten or so).
MAX_HEADER_COLUMNS = 1000
MAX_LISTED_NAMES = 10
# The largest id an import's `id` column may set: 15 digits. New customers get one more than any
# id ever used, so an import of 2**63 - 1 would block every later `crm customer add`; below this
# bound 2**63 - 10**15 ids are left, and every id stays exact in JSON readers (below 2**53).
MAX_IMPORTED_ID = 10**15 - 1

# What output.csv_cell puts before a cell a spreadsheet would run as a formula, undone
# here so that an export imports back as it was (exports.py escapes a leading ' as well).
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
_DATE_LIKE = re.compile(r"^\s*\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}")  # 03/04/2024, 3.4.24: not ISO
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%X", "%c", "%T", "%R")
# A moment whose year, month and day all differ from what strptime fills in for a missing one
# (1900, January, the 1st): a --date-format that loses one of them on the way out and back in
# does not name a whole date. Aware, so that %z and %Z have something to write.
_PROBE_MOMENT = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
_DATE_PARTS = (("year", "%Y or %y"), ("month", "%m, %b or %B"), ("day", "%d"))


class ImportFailed(CrmError):
    """Bad rows in an all-or-nothing import: the message lists them; nothing was written."""

    def __init__(self, source: str, errors: list[str], rows: int, problems: int):
        lines = [f"{source}: {rows} {'row has' if rows == 1 else 'rows have'} errors; nothing was imported "
                 "(fix them, or use --skip-invalid --rejects FILE)"]
        lines += [f"  {error}" for error in errors]
        if problems > len(errors):
            lines.append(f"  ... and {problems - len(errors)} more errors")
        super().__init__("\n".join(lines))
        self.errors = errors
        self.rows = rows


@dataclass(frozen=True)
class Options:
    delimiter: str | None = None  # None: detected from the header line
    date_format: str | None = None  # strptime format; None: ISO 8601
    on_conflict: str = "skip"  # customers matching one already there: skip, update or fail
    create_missing: bool = False  # interactions/feedback naming an unknown customer create it
    skip_invalid: bool = False
    dry_run: bool = False


@dataclass
class Result:
    kind: str
    source: str
    batch_id: int | None = None  # None after a dry run
    rows_read: int = 0
    added: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    customers_created: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first MAX_LISTED_ERRORS


Progress = Callable[[int, int], None]  # (rows read, bytes read)


def import_csv(
    conn: sqlite3.Connection,
    kind: str,
    stream: BinaryIO,
    *,
    source: str,
    options: Options = Options(),
    rejects: TextIO | None = None,
    rejects_to: Callable[[], AbstractContextManager[TextIO]] | None = None,
    progress: Progress | None = None,
) -> Result:
    """Import one CSV file (a binary stream) in one transaction; returns what happened.

    Raises ImportFailed when rows are bad and options.skip_invalid is off; the
    database is then as it was. With skip_invalid, bad rows go to `rejects`, or to
    the file `rejects_to()` opens (output.destination): that is closed, so written
    whole, before the import commits, and a failure to write it rolls the import
    back (run again, it imports the good rows once, not twice).
    """
    if kind not in KINDS:
        raise InvalidInput("kind", kind, "must be one of " + ", ".join(KINDS))
    if options.on_conflict not in ON_CONFLICT:
        raise InvalidInput("on-conflict", options.on_conflict, "must be one of " + ", ".join(ON_CONFLICT))
    if rejects is not None and rejects_to is None:
        rejects_to = _left_open(rejects)
    if options.skip_invalid and rejects_to is None:
        raise InvalidInput("rejects", None, "is required with --skip-invalid, so no row is dropped without a trace")
    check_date_format(options.date_format)
    started = time.monotonic()
    stream = csvfiles.utf8_stream(stream, source)
    source_lines = csvfiles.Lines(stream, source)
    lines = iter(source_lines)
    header_line = next(lines, None)
    if header_line is None:
        raise InvalidInput("file", source, "is empty; the first line must name the columns")
    if "\x00" in header_line:
        raise InvalidInput("file", source, "line 1 (the header) contains NUL characters: this is not a CSV text "
                           "file, or it is UTF-16 without a byte-order mark; save it as 'CSV UTF-8' and try again")
    delimiter = csvfiles.delimiter(options.delimiter, header_line)
    if header_line.count(delimiter) >= MAX_HEADER_COLUMNS:
        # Checked before the line is parsed: a header of a million cells is refused at once.
        raise InvalidInput("file", source, f"line 1 (the header) has {header_line.count(delimiter) + 1} columns; "
                           f"a {kind} file has at most {len(COLUMNS[kind]) + 1}. The {kind} columns are: "
                           + ", ".join(COLUMNS[kind]))
    source_lines.delimiter = delimiter
    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter, strict=True)
    header = _read_header(reader, kind, source)
    source_lines.header = header
    result = Result(kind=kind, source=source, dry_run=options.dry_run)
    error_count = problem_count = 0
    importer_class = _IMPORTERS[kind]
    try:
        with _bulk_runtime(), _foreign_keys_checked_by(importer_class, conn), db.transaction(conn):
            batch_id = conn.execute(
                "INSERT INTO import_batches (kind, source, started_at) VALUES (?, ?, ?)",
                (kind, source, values.now().isoformat()),
            ).lastrowid
            importer = importer_class(conn, batch_id, header, options)
            workers = _worker_count() if importer.parallel and hasattr(stream, "read") else 0
            if workers:
                chunks = _chunks_from_workers(stream, source_lines, importer, delimiter, source, workers)
            else:
                chunks = _prepared_chunks(reader, source_lines, importer, source)
            # closing: on an error the workers stop now, not when the traceback is freed. The rejects
            # file's block ends (flushed, fsynced, renamed into place) before the commit below.
            with closing(chunks), (rejects_to() if rejects_to else nullcontext()) as rejects_out:
                rejects_writer = _rejects_writer(rejects_out, header, delimiter) if rejects_out else None
                for chunk in chunks:
                    rows, bad = importer.take_chunk(chunk)
                    result.rows_read += rows
                    for cells, problems in bad:
                        error_count += 1
                        problem_count += len(problems)
                        if len(result.errors) < MAX_LISTED_ERRORS:
                            result.errors.extend(problems[: MAX_LISTED_ERRORS - len(result.errors)])
                        if rejects_writer is not None:
                            rejects_writer.writerow(_rejected_row(cells, header, "; ".join(problems)))
                    if progress:
                        progress(result.rows_read, source_lines.bytes)
                # Rolled back anyway (a dry run, or bad rows with nothing to import): skip the index rebuild.
                importer.finish(rebuild=not options.dry_run and not (error_count and not options.skip_invalid))
            result.added, result.updated, result.skipped = importer.added, importer.updated, importer.skipped
            result.customers_created = importer.customers_created
            result.rejected = error_count
            if error_count and not options.skip_invalid:
                raise ImportFailed(source, result.errors, error_count, problem_count)
            conn.execute(
                """UPDATE import_batches SET finished_at = ?, rows_read = ?, added = ?, updated = ?, skipped = ?,
                          rejected = ?, customers_created = ? WHERE id = ?""",
                (values.now().isoformat(), result.rows_read, result.added, result.updated, result.skipped,
                 result.rejected, result.customers_created, batch_id),
            )
            result.batch_id = batch_id
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        result.batch_id = None
    result.seconds = time.monotonic() - started
    return result


@contextmanager
def _bulk_runtime() -> Iterator[None]:
    """The objects that exist before the import are moved out of the garbage collector's
    sight (gc.freeze) until it ends: millions of short-lived rows would otherwise make it
    walk the whole heap again and again. (Forked workers also share those pages longer.)"""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _foreign_keys_checked_by(importer_class: type, conn: sqlite3.Connection) -> Iterator[None]:
    """For an importer that checks foreign keys itself, SQLite's per-row check is off.

    The bulk path writes only customer ids it has just read from the customers
    table, in the same write transaction, and checks them all again in one query
    at the end (_InteractionImporter.finish). SQLite's own check, a lookup per
    row, would cost about a third of the time spent inserting. The setting can
    only change outside a transaction, so it wraps the import's.
    """
    if not importer_class.checks_foreign_keys or conn.in_transaction:
        yield
        return
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def _left_open(stream: TextIO) -> Callable[[], AbstractContextManager[TextIO]]:
    """A rejects stream the caller closes, as the block the import writes it in."""
    return lambda: nullcontext(stream)


def _rejects_writer(stream: TextIO, header: list[str], delimiter: str) -> _NeutralisedWriter:
    """The rejects file's writer, its header row written: the rows as they were read, but a cell a
    spreadsheet would run as a formula gets the apostrophe every crm CSV puts before one (import
    takes it off again)."""
    from crmcli.output import csv_cell

    writer = _NeutralisedWriter(csv.writer(stream, delimiter=delimiter, lineterminator="\r\n"), csv_cell)
    writer.writerow(header if ERROR_COLUMN in header else [*header, ERROR_COLUMN])
    return writer


class _NeutralisedWriter:
    """A csv.writer whose text cells go through output.csv_cell (formula neutralisation)."""

    def __init__(self, writer: Any, cell: Callable[[Any], Any]):
        self.writer, self.cell = writer, cell

    def writerow(self, row: list[str]) -> None:
        self.writer.writerow([self.cell(value) for value in row])


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""


def _rejected_row(cells: list[str], header: list[str], described: str) -> list[str]:
    """The row as it was read, with the error in the last column (or in the error column of a
    rejects file that is being imported again)."""
    if ERROR_COLUMN in header and len(cells) == len(header):
        row = list(cells)
        row[header.index(ERROR_COLUMN)] = described
        return row
    return [*cells, described]


def check_date_format(fmt: str | None) -> None:
    """Refuse a --date-format that does not name a whole date: without a year strptime reads
    every date as 1900, without a day as the 1st of the month (README, "Importing")."""
    if fmt is None:
        return
    written = _PROBE_MOMENT.strftime(fmt)
    try:
        parsed = datetime.strptime(written, fmt)
    except ValueError as exc:
        raise InvalidInput("date-format", fmt, f"is not a strptime format ({exc}); use codes such as %d, %m, %Y, "
                           "%H and %M, e.g. '%d/%m/%Y'") from None
    found = (parsed.year == _PROBE_MOMENT.year, parsed.month == _PROBE_MOMENT.month, parsed.day == _PROBE_MOMENT.day)
    missing = [part for part, present in zip(_DATE_PARTS, found) if not present]
    if missing:
        names = [name for name, _ in missing]
        what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        raise InvalidInput("date-format", fmt, f"has no {what} ({'; '.join(codes for _, codes in missing)}): it "
                           f"would read {written!r} as {parsed.date().isoformat()}; give the whole date, e.g. "
                           "'%d/%m/%Y'")


def summary(result: Result) -> str:
    """The one line an import prints on stderr."""
    would = "would be " if result.dry_run else ""
    parts = [f"{result.rows_read} rows read", f"{result.added} {would}added"]
    if result.kind == "customers":
        parts.append(f"{result.updated} {would}updated")
    parts.append(f"{result.skipped} skipped (already there)")
    parts.append(f"{result.rejected} rejected")
    if result.customers_created:
        parts.append(f"{result.customers_created} new customers {would}created")
    where = "dry run, nothing written" if result.dry_run else f"batch {result.batch_id}"
    return f"{result.kind} from {result.source}: " + ", ".join(parts) + f" ({where}, {result.seconds:.1f} s)"


# --- reading ---------------------------------------------------------------------------------------

def _prepared_chunks(reader: Any, source_lines: csvfiles.Lines, importer: _Importer, source: str) -> Iterator[Any]:
    """importer.prepare_chunk() of each CHUNK_ROWS rows, a row being (its first line, its cells).
    Blank lines are skipped. Runs in the main process (small files, or no worker processes)."""
    rows: list[tuple[int, list[str]]] = []
    line = source_lines.count
    source_lines.record_start = line + 1
    try:
        for cells in reader:
            first_line = line + 1
            line = source_lines.count
            source_lines.record_start = line + 1
            if cells:
                rows.append((first_line, cells))
                if len(rows) == CHUNK_ROWS:
                    yield importer.prepare_chunk(rows)
                    rows = []
    except csv.Error as exc:
        raise csvfiles.not_csv(source, source_lines.count, str(exc), record_start=line + 1) from None
    if rows:
        yield importer.prepare_chunk(rows)


def _worker_count() -> int:
    """Worker processes for the bulk path: one per CPU (at most 4), on Linux with 2 CPUs or more.

    Processes, not threads: parsing and checking cells is Python work, which
    threads would run one at a time. Forked workers inherit the importer; on
    other systems, where fork is unsafe or not the default, and on one CPU, rows
    are prepared in the main process.
    """
    if not sys.platform.startswith("linux"):
        return 0
    cpus = len(os.sched_getaffinity(0))
    return min(cpus, MAX_WORKERS) if cpus >= 2 else 0


# What a forked worker works with: (importer, delimiter), set just before the workers start.
_WORK: tuple[Any, str] | None = None


def _prepare_block(block: bytes, first_line: int) -> tuple[str, Any]:
    """In a worker process: a block of whole records -> its prepared chunks, each without its raw
    rows (the main process parses the block again in the rare case that it needs one)."""
    importer, delimiter = _WORK
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = block.rfind(b"\n", 0, exc.start) + 1
        end = block.find(b"\n", exc.start)
        return "utf8", (first_line + block.count(b"\n", 0, exc.start), block[start:end if end >= 0 else len(block)],
                        block.count(b'"', 0, start) % 2 == 0)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = _numbered_rows(reader, first_line)
    except csv.Error as exc:
        return "csv", (first_line + reader.line_num - 1, str(exc))
    chunks = []
    for offset in range(0, len(rows), CHUNK_ROWS):
        chunk = importer.prepare_chunk(rows[offset:offset + CHUNK_ROWS])
        for position, rejected in chunk.bad:
            rejected.problems = importer.describe(rejected.problems, chunk.rows[position][0])
        # The values go back marshalled (plain str, int and None): several times quicker to load
        # than pickle, and loading is work for the main process, which also writes the database.
        chunks.append((chunk.size, offset, marshal.dumps((chunk.params, chunk.customer_cells, chunk.positions)),
                       chunk.bad))
    return "ok", chunks


def _numbered_rows(reader: Any, first_line: int) -> list[tuple[int, list[str]]]:
    """(line each record starts on, its cells) for a reader over a block; blank lines skipped."""
    rows = []
    consumed = 0
    for cells in reader:
        start = first_line + consumed
        consumed = reader.line_num
        if cells:
            rows.append((start, cells))
    return rows


class _BlockRows:
    """A block's rows, parsed again in the main process only when a row is needed (a rejected row
    for the rejects file, a row whose customer is not there)."""

    def __init__(self, block: bytes, first_line: int, delimiter: str):
        self.block, self.first_line, self.delimiter = block, first_line, delimiter
        self._rows: list[tuple[int, list[str]]] | None = None

    def row(self, index: int) -> tuple[int, list[str]]:
        if self._rows is None:
            text = io.StringIO(self.block.decode("utf-8"), newline="")
            self._rows = _numbered_rows(csv.reader(text, delimiter=self.delimiter, strict=True), self.first_line)
        return self._rows[index]


def _record_blocks(stream: BinaryIO, counter: csvfiles.Lines) -> Iterator[tuple[bytes, int]]:
    """(block, its first line) of about BLOCK_BYTES each, cut only between records.

    A newline ends a record unless it is inside quotes, that is, unless an odd
    number of quote characters come before it in the block (a block starts at a
    record's start). Counting in C keeps the main process free for the database.
    """
    carry = b""
    line = counter.count + 1
    while True:
        data = stream.read(BLOCK_BYTES)
        counter.bytes += len(data)
        if not data:
            break
        data = carry + data
        end = len(data)
        cut = -1
        while end > 0:
            newline = data.rfind(b"\n", 0, end)
            if newline < 0:
                break
            if data.count(b'"', 0, newline) % 2 == 0:
                cut = newline + 1
                break
            end = newline
        if cut < 0:
            carry = data
            if len(carry) > MAX_CARRY_BYTES:
                # No record boundary in sight: a quote inside an unquoted cell (5" screen) makes the
                # count useless. The caller goes on with the rest of the file in this process.
                raise _NoBoundary(carry, line)
            continue
        block, carry = data[:cut], data[cut:]
        yield block, line
        line += block.count(b"\n")
    if carry:
        yield carry, line


class _NoBoundary(Exception):
    def __init__(self, carry: bytes, line: int):
        super().__init__()
        self.carry, self.line = carry, line


def _chunks_from_workers(stream: BinaryIO, counter: csvfiles.Lines, importer: _Importer, delimiter: str, source: str,
                         workers: int) -> Iterator[Any]:
    """The file's prepared chunks, in order, from worker processes; at most two blocks per worker
    in flight, so memory stays flat. A file smaller than one block is prepared here."""
    global _WORK
    from concurrent.futures import ProcessPoolExecutor

    first = stream.read(BLOCK_BYTES)
    if len(first) < BLOCK_BYTES:  # small: not worth starting processes
        counter.bytes += len(first)
        lines = io.BytesIO(first)
        rest = counter.spawn(lines)
        rest.count = counter.count
        yield from _prepared_chunks(csv.reader(iter(rest), delimiter=delimiter, strict=True), rest, importer,
                                    source)
        counter.count = rest.count
        return
    stream = csvfiles.Prepended(first, stream)
    _WORK = (importer, delimiter)
    pending: collections.deque = collections.deque()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_started,
                               initargs=(os.getpid(),))
    try:
        try:
            for block, first_line in _record_blocks(stream, counter):
                pending.append((pool.submit(_prepare_block, block, first_line), block, first_line))
                if len(pending) > workers + 1:
                    yield from _finished(pending.popleft(), delimiter, source, counter.header)
        except _NoBoundary as stuck:
            while pending:
                yield from _finished(pending.popleft(), delimiter, source, counter.header)
            rest = counter.spawn(io.BufferedReader(csvfiles.Prepended(stuck.carry, stream)))
            rest.count = stuck.line - 1
            yield from _prepared_chunks(csv.reader(iter(rest), delimiter=delimiter, strict=True), rest,
                                        importer, source)
            counter.bytes += rest.bytes - len(stuck.carry)
            return
        while pending:
            yield from _finished(pending.popleft(), delimiter, source, counter.header)
    finally:
        for future, _, _ in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        _WORK = None


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_CHECK_SECONDS = 0.5


def _worker_started(parent: int) -> None:
    """First thing in each worker process: it ends with the import's main process.

    A worker waits for blocks on a pipe whose writing end it holds itself (fork), so it would
    never notice the main process going: killed with SIGKILL, that would leave its workers
    waiting for ever, holding the database's deleted -wal file open. On Linux the kernel kills
    a worker when the thread that forked it (the main thread) ends: prctl(PR_SET_PDEATHSIG).
    Where that is not available, a thread checks every PARENT_CHECK_SECONDS that the parent is
    still the process that started the worker. Either way the parent may have died before this
    ran, hence the check of getppid() after. Ctrl-C and SIGTERM are the main process's to handle
    (it rolls back and stops the workers): a worker ignores Ctrl-C and dies of SIGTERM, so
    neither prints a traceback from it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _killed_with_parent():
        threading.Thread(target=_watch_parent, args=(parent,), name="crm-parent-watch", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _killed_with_parent() -> bool:
    """prctl(PR_SET_PDEATHSIG, SIGKILL) through ctypes; False where there is no such call."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _finished(item: tuple, delimiter: str, source: str, header: list[str] | None = None) -> Iterator[Any]:
    future, block, first_line = item
    status, payload = future.result()
    if status == "utf8":
        line, raw, record_start = payload
        raise csvfiles.not_utf8(source, line, raw, header=header, delimiter=delimiter, record_start=record_start)
    if status == "csv":
        raise csvfiles.not_csv(source, *payload)
    rows = _BlockRows(block, first_line, delimiter)
    for size, offset, values_, bad in payload:
        chunk = _Chunk([])
        chunk.size, chunk.rows, chunk.bad = size, _ChunkRows(rows, offset), bad
        chunk.params, chunk.customer_cells, chunk.positions = marshal.loads(values_)
        yield chunk


class _ChunkRows:
    """chunk.rows[position] for a chunk prepared in a worker: its rows are in the main process's block."""

    __slots__ = ("rows", "offset")

    def __init__(self, rows: _BlockRows, offset: int):
        self.rows, self.offset = rows, offset

    def __getitem__(self, position: int) -> tuple[int, list[str]]:
        return self.rows.row(self.offset + position)


def _read_header(reader: Any, kind: str, source: str) -> list[str]:
    try:
        raw = next(reader)
    except csv.Error as exc:
        raise InvalidInput("file", source, f"line 1: is not valid CSV: {exc}") from None
    header = [name.strip().lower() for name in raw]
    known = COLUMNS[kind]
    problems = []
    unknown = [name for name in header if name not in known and name not in (ERROR_COLUMN, "")]
    if unknown:
        problems.append("unknown column " + _some(unknown))
    if "" in header:
        problems.append(f"column {header.index('') + 1} has no name")
    counts = collections.Counter(header)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        problems.append("repeated column " + _some(repeated))
    missing = [name for name in REQUIRED[kind] if name not in header]
    if missing:
        problems.append("missing column " + ", ".join(repr(n) for n in missing))
    if kind != "customers" and not any(key in header for key in CUSTOMER_KEYS):
        problems.append("no column names the customer: give customer_id, customer_external_id or customer_email")
    if problems:
        raise InvalidInput(
            "file", source,
            f"line 1 (the header): {'; '.join(problems)}. The {kind} columns are: {', '.join(known)}",
        )
    return header


def _some(names: list[str]) -> str:
    """'a', 'b' ... and N more: a header of thousands of columns gives a message of one line."""
    shown = ", ".join(repr(name[:40] + ("..." if len(name) > 40 else "")) for name in names[:MAX_LISTED_NAMES])
    return shown + (f" and {len(names) - MAX_LISTED_NAMES} more" if len(names) > MAX_LISTED_NAMES else "")


def _unescape(cell: str) -> str:
    """Undo the apostrophe crm's CSV output puts before a cell starting with = + - @ or '."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1] in _FORMULA_TRIGGERS else cell


# --- the importers ---------------------------------------------------------------------------------

class _Rejected:
    """A row found bad before it reached the database: its problems (CrmErrors, or finished
    messages), and whether its customer should still be looked up to report that too."""

    __slots__ = ("problems", "customer_keys")

    def __init__(self, problems: list, customer_keys: bool = False):
        self.problems = problems
        self.customer_keys = customer_keys


class _Chunk:
    """A chunk of interaction rows, prepared (in a worker process or not), ready for take_chunk()."""

    __slots__ = ("size", "rows", "params", "customer_cells", "positions", "bad")

    def __init__(self, rows: list[tuple[int, list[str]]]):
        self.size = len(rows)
        self.rows: Any = rows  # (first line, cells); from a worker, _ChunkRows
        self.params: list[Any] = []  # the good rows' INSERT values, flat; customer_id still None
        self.customer_cells: list[str] = []  # per good row: the text of its customer cells
        self.positions: list[int] = []  # per good row: its position in rows
        self.bad: list[tuple[int, _Rejected]] = []  # (position in rows, problems)


class _Importer:
    """prepare_chunk() checks rows without the database (it may run in a worker process);
    take_chunk() finishes them with the database. Customers and feedback go row by row
    through take_row(), which returns the row's problems (none: it was taken)."""

    parallel = False  # True: prepare_chunk() may run in worker processes
    checks_foreign_keys = False  # True: SQLite's foreign key enforcement is off while it runs

    def __init__(self, conn: sqlite3.Connection, batch_id: int, header: list[str], options: Options):
        self.conn = conn
        self.batch_id = batch_id
        self.header = header
        self.width = len(header)
        self.index = {name: n for n, name in enumerate(header)}
        self.options = options
        self.added = self.updated = self.skipped = self.customers_created = 0
        self.created_at = values.now().isoformat()
        # Memo caches are keyed by the cell's text per column: a dict of only strings and ints
        # is not tracked by the garbage collector, so big caches cost it nothing.
        self._dates: dict[str, dict[str, str]] = {}
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

    def width_problem(self, cells: list[str], line: int) -> _Rejected | None:
        if len(cells) == self.width:
            return None
        return _Rejected([f"line {line}: has {len(cells)} cells, the header has {self.width}"])

    def take_row(self, raw: list[str], line: int) -> list[str]:
        raise NotImplementedError

    def finish(self, rebuild: bool = True) -> None:
        """After the last row. rebuild=False: the transaction will be rolled back, so skip costly work."""

    def describe(self, problems: list, line: int) -> list[str]:
        return [p if isinstance(p, str) else _problem(line, p, self.index) for p in problems]

    def cells(self, raw: list[str]) -> dict[str, str]:
        """The row by column name, with the formula apostrophe of crm's own CSV output taken off."""
        return {name: _unescape(raw[n]) for name, n in self.index.items()}

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

    def when(self, value: str | None, column: str) -> str:
        """A required moment (at): values.when, memoised per distinct text (bounded)."""
        cache = self._dates.setdefault(column, {})
        cached = cache.get(value)
        if cached is not None:
            return cached
        if value is None or not value.strip():
            raise InvalidInput(column, value or "", "is required in an import (the date it happened)")
        if self.options.date_format is None and value[:1].isdigit():
            try:  # the common case first: ISO 8601 straight to values.when
                result = values.when(value, column)
            except InvalidInput:
                result = self.parse_date(values.when, value, column)
        else:
            result = self.parse_date(values.when, _unescape(value), column)
        if len(value) <= 10:  # a date repeats on many rows; a date-time rarely does
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[value] = result
        return result

    # --- the customer a row names

    def customer_keys(self, raw: list[str]) -> list[tuple[str, str, str]]:
        """(column, lookup key, cell) for each filled customer_id / customer_external_id /
        customer_email cell, in that order."""
        keys = []
        for column, position in self._key_positions:
            cell = raw[position]
            if not cell or not cell.strip():
                continue
            if column == "customer_id":
                cleaned = _unescape(cell).strip()
                # The length first: int() refuses more than 4,300 digits with a ValueError.
                if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 19 \
                        or int(cleaned) > customers.SQLITE_MAX_INTEGER:
                    raise InvalidInput(column, cell, "is not a customer id (a whole number)")
                keys.append((column, cleaned, cell))
            elif column == "customer_email":
                keys.append((column, values.email_key(values.email(_unescape(cell), column)), cell))
            else:
                keys.append((column, values.text(_unescape(cell), column), cell))
        if not keys:
            raise InvalidInput(self._key_positions[0][0], "", "is empty; every row must name its customer "
                               "(customer_id, customer_external_id or customer_email)")
        return keys

    def customer_id(self, keys: list[tuple[str, str, str]], raw: list[str], *, remember: bool = True) -> int:
        """The first of the keys that names a customer. With --create-missing, a customer named
        by external id or email that is not there is created (through customers.add), in this batch.
        remember=False: the caller keeps its own memo (the bulk path), so do not keep a second one."""
        for column, key, _ in keys:
            cache = self._customer_ids[column]
            found = cache.get(key)
            if found is not None:
                return found
            row = self.conn.execute(_FIND_CUSTOMER[column], (key,)).fetchone()
            if row is not None:
                if remember:
                    if len(cache) >= CACHE_LIMIT:
                        cache.clear()
                    cache[key] = row[0]
                return row[0]
        if self.options.create_missing:
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
        external_id = values.text(_unescape(given.get("customer_external_id", "")), "customer_external_id")
        email = values.email(_unescape(given.get("customer_email", "")), "customer_email")
        name_cell = raw[self.index["customer_name"]] if "customer_name" in self.index else ""
        name = values.text(_unescape(name_cell), "customer_name") or email or external_id
        try:
            new_id = customers.add(self.conn, name, email=email, external_id=external_id)
        except CrmError as exc:
            raise _renamed(exc, {"name": "customer_name", "email": "customer_email",
                                 "external_id": "customer_external_id"}) from None
        self.conn.execute("UPDATE customers SET batch_id = ? WHERE id = ?", (self.batch_id, new_id))
        self.customers_created += 1
        for column, key, _ in keys:
            self._customer_ids[column][key] = new_id
        return new_id


_FIND_CUSTOMER = {
    "customer_id": "SELECT id FROM customers WHERE id = CAST(? AS INTEGER)",
    "customer_external_id": "SELECT id FROM customers WHERE external_id = ?",
    "customer_email": "SELECT id FROM customers WHERE email_key = ?",  # the key is values.email_key(email)
}


def _renamed(exc: CrmError, names: dict[str, str]) -> CrmError:
    """The core names fields as its own arguments; an import names them as the file's columns."""
    if isinstance(exc, InvalidInput) and exc.field in names:
        problem = exc.message[len(exc.field) + 2: len(exc.message) - len(f" ({exc.value!r})")]
        return InvalidInput(names[exc.field], exc.value, problem)
    for old, new in names.items():
        if exc.message.startswith(f"{old}: "):
            return type(exc)(new + exc.message[len(old):])
    return exc


def _problem(line: int, exc: CrmError, columns: dict[str, int]) -> str:
    """'line N, column C: what is wrong ('value')' from a CrmError whose message starts with 'field: '."""
    column, sep, rest = exc.message.partition(": ")
    if sep and column in columns:
        return f"line {line}, column {column}: {rest}"
    return f"line {line}: {exc.message}"


class _CustomerImporter(_Importer):
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
            return self.describe([_renamed(exc, {"tag": "tags", "add-tag": "tags"})], line)
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
            check(column, lambda column=column: values.text(cells.get(column), column))
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
        if self.conn.execute("INSERT OR IGNORE INTO temp.import_seen VALUES (?)", (current["id"],)).rowcount == 0:
            raise Conflict(f"{matched_by}: {row[matched_by]!r} is the same customer as an earlier row of this file")
        if self.options.on_conflict == "fail":
            raise Conflict(f"{matched_by}: {row[matched_by]!r} already belongs to customer {current['id']} "
                           f"({current['name']}); --on-conflict skip or update to accept it")
        if self.options.on_conflict == "skip":
            return "skipped"
        return self.update(current, row)

    def match(self, row: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """The customer this row is: same external_id, else same email, else same id and name."""
        by_external = by_email = None
        if row["external_id"] is not None:
            found = self.conn.execute(_FIND_CUSTOMER["customer_external_id"], (row["external_id"],)).fetchone()
            by_external = customers.get(self.conn, found[0]) if found else None
        if row["email"] is not None:
            found = self.conn.execute(_FIND_CUSTOMER["customer_email"], (values.email_key(row["email"]),)).fetchone()
            by_email = customers.get(self.conn, found[0]) if found else None
        if by_external is not None:
            if by_email is not None and by_email["id"] != by_external["id"]:
                raise Conflict(f"email: {row['email']!r} belongs to customer {by_email['id']} ({by_email['name']}), "
                               f"but external_id {row['external_id']!r} is customer {by_external['id']} "
                               f"({by_external['name']})")
            return "external_id", by_external
        if by_email is not None:
            if row["external_id"] is not None and by_email["external_id"] is not None:
                raise Conflict(f"email: {row['email']!r} belongs to customer {by_email['id']} ({by_email['name']}), "
                               f"whose external_id is {by_email['external_id']!r}, not {row['external_id']!r}")
            return "email", by_email
        if row["id"] is not None:
            found = self.conn.execute(_FIND_CUSTOMER["customer_id"], (row["id"],)).fetchone()
            if found:
                current = customers.get(self.conn, found[0])
                if values.fold(current["name"]) != values.fold(row["name"]):
                    raise Conflict(f"id: {row['id']} is already customer {current['name']!r}; leave the id "
                                   "cell empty to add this row as a new customer")
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


class _FeedbackImporter(_Importer):
    """Feedback goes in through feedback.add, one row at a time (feedback files are small)."""

    def take_row(self, raw: list[str], line: int) -> list[str]:
        cells = self.cells(raw)
        problems: list[CrmError] = []
        parsed: dict[str, Any] = {}
        for column, parse in (("external_id", lambda v: values.text(v, "external_id")),
                              ("at", self.required_date),
                              ("resolved_at", self.optional_date),
                              ("customer", lambda v: self.customer_keys(raw))):
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


class _InteractionImporter(_Importer):
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
        self._amounts: dict[str, int | None] = {}
        self._texts: dict[str, str | None] = {}
        self._statements: dict[int, str] = {}
        self._indexes_aside: list[str] = []
        self._existing_rows = self.conn.execute("SELECT coalesce(max(id), 0) FROM interactions").fetchone()[0]
        self._positions = [self.index.get(name) for name in ("type", "at", "amount", "by", "note", "external_id")]
        self._row_tail = (self.created_at, self.batch_id)
        # The customer cells' text -> customer id: most rows name a customer seen before.
        self._by_cells: dict[str, int] = {}
        self._single_key = self._key_positions[0][1] if len(self._key_positions) == 1 else None

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
            found = values.choice(_unescape(cell), "type", db.INTERACTION_TYPES)
            self._types[cell] = found
        return found

    def cents(self, cell: str | None) -> int | None:
        try:
            return self._amounts[cell]
        except KeyError:
            cents = values.amount_to_cents(_unescape(cell) if cell else cell, "amount")
            if len(self._amounts) >= CACHE_LIMIT:
                self._amounts.clear()
            self._amounts[cell] = cents
            return cents

    def staff(self, cell: str) -> str | None:
        try:
            return self._texts[cell]
        except KeyError:
            cleaned = values.text(_unescape(cell), "by")
            if len(self._texts) >= CACHE_LIMIT:
                self._texts.clear()
            self._texts[cell] = cleaned
            return cleaned

    def prepare_chunk(self, rows: list[tuple[int, list[str]]]) -> _Chunk:
        """Every row's values, flat, as the INSERT takes them, with the customer_id slot left for
        take_chunk(); and the bad rows. No database: may run in a worker process."""
        chunk = _Chunk(rows)
        params, keys, positions, bad = chunk.params, chunk.customer_cells, chunk.positions, chunk.bad
        single_key, key_positions, prepare = self._single_key, self._key_positions, self.prepare
        width = self.width
        for position, (line, cells) in enumerate(rows):
            prepared = prepare(cells) if len(cells) == width else self.width_problem(cells, line)
            if type(prepared) is _Rejected:
                bad.append((position, prepared))
                continue
            params.append(None)
            params.extend(prepared)
            keys.append(cells[single_key] if single_key is not None
                        else "\x1f".join([cells[p] for _, p in key_positions]))
            positions.append(position)
        return chunk

    def prepare(self, raw: list[str]) -> Any:
        """The row's values after customer_id, or its problems."""
        t, a, m, b, n, e = self._positions
        try:
            kind = self.kind(raw[t])
            amount = raw[m] if m is not None else None
            cents = self.cents(amount)
            interactions.check_amount(kind, cents, amount or "")
            return (kind, self.when(raw[a], "at"), cents,
                    self.staff(raw[b]) if b is not None else None,
                    values.text(_unescape(raw[n]), "note") if n is not None and raw[n] else None,
                    values.text(_unescape(raw[e]), "external_id") if e is not None and raw[e] else None,
                    *self._row_tail)
        except CrmError:
            return self.every_problem(raw)

    def every_problem(self, raw: list[str]) -> _Rejected:
        """A bad row, checked cell by cell with the same parsers, so that every problem in it is listed."""
        def cell(name: str) -> str | None:
            return raw[self.index[name]] if name in self.index else None

        problems: list[CrmError] = []
        parsed: dict[str, Any] = {}
        for column, parse in (("type", self.kind), ("at", lambda v: self.when(v, "at")), ("amount", self.cents),
                              ("by", lambda v: self.staff(v or "")),
                              ("note", lambda v: values.text(_unescape(v or ""), "note")),
                              ("external_id", lambda v: values.text(_unescape(v or ""), "external_id"))):
            try:
                parsed[column] = parse(cell(column))
            except CrmError as exc:
                problems.append(exc)
        if "type" in parsed and "amount" in parsed:
            try:
                interactions.check_amount(parsed["type"], parsed["amount"], cell("amount") or "")
            except CrmError as exc:
                problems.append(exc)
        return _Rejected(problems, customer_keys=True)

    def take_chunk(self, chunk: _Chunk) -> tuple[int, list[tuple[list[str], list[str]]]]:
        """Fill in each row's customer (memoised by the customer cells' text), write the rows."""
        width = len(self.INSERT_COLUMNS)
        by_cells = self._by_cells
        params = chunk.params
        unknown = []  # (index among the good rows, position in the chunk, problem)
        for index, cells_text in enumerate(chunk.customer_cells):
            customer_id = by_cells.get(cells_text)
            if customer_id is None:
                position = chunk.positions[index]
                line, cells = chunk.rows[position]
                try:
                    customer_id = self.customer_id(self.customer_keys(cells), cells, remember=False)
                except CrmError as exc:
                    unknown.append((index, position, _Rejected([exc])))
                    continue
                if len(by_cells) >= CACHE_LIMIT:
                    by_cells.clear()
                by_cells[cells_text] = customer_id
            params[index * width] = customer_id
        if unknown:
            dropped = {index for index, _, _ in unknown}
            params = [value for index in range(len(chunk.positions)) if index not in dropped
                      for value in params[index * width:(index + 1) * width]]
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

    def write(self, params: list) -> None:
        """INSERT statements of INSERT_ROWS rows, the rest in power-of-two sizes: a handful of
        distinct statements, so that SQLite's statement cache stays small (each is big)."""
        width = len(self.INSERT_COLUMNS)
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
        if not self._indexes_aside and _worth_rebuilding(self.added, self._existing_rows):
            self._indexes_aside = _drop_secondary_indexes(self.conn, "interactions", keep=("interactions_batch",))

    def finish(self, rebuild: bool = True) -> None:
        if not rebuild:
            return
        for sql in self._indexes_aside:
            self.conn.execute(sql)
        # The foreign key check SQLite skipped row by row, once for the whole table (through the
        # index on customer_id this is a fraction of a second for millions of rows).
        orphan = self.conn.execute(
            """SELECT id FROM (SELECT DISTINCT customer_id AS id FROM interactions) used
                WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = used.id) LIMIT 1""").fetchone()
        if orphan is not None:
            raise sqlite3.IntegrityError(f"import: interactions would point at customer {orphan[0]}, "
                                         "which does not exist (a crmcli bug; nothing was written)")


def _worth_rebuilding(rows_changed: int, table_rows: int) -> bool:
    """Rebuilding an index sorts the whole table; worth it when the change is a good part of it."""
    return rows_changed >= BULK_INDEX_THRESHOLD and rows_changed * 4 >= table_rows


def _drop_secondary_indexes(conn: sqlite3.Connection, table: str, keep: tuple[str, ...] = ()) -> list[str]:
    """Drop a table's non-unique indexes (inside the caller's transaction); returns the SQL that
    rebuilds them exactly as the migrations made them."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
        (table,),
    ).fetchall()
    rebuild = []
    for name, sql in rows:
        if name in keep or sql.lstrip().upper().startswith("CREATE UNIQUE"):
            continue
        conn.execute(f'DROP INDEX "{name}"')
        rebuild.append(sql)
    return rebuild


_IMPORTERS: dict[str, type[_Importer]] = {
    "customers": _CustomerImporter,
    "interactions": _InteractionImporter,
    "feedback": _FeedbackImporter,
}


# --- batches ---------------------------------------------------------------------------------------

BATCH_COLUMNS = ("id", "kind", "source", "started_at", "rows_read", "added", "updated", "skipped", "rejected",
                 "customers_created", "undone_at")


def list_batches(conn: sqlite3.Connection, *, limit: int | None = None) -> list[dict[str, Any]]:
    """Import batches, newest first."""
    sql = f"SELECT {', '.join(BATCH_COLUMNS)} FROM import_batches ORDER BY id DESC" + (" LIMIT ?" if limit else "")
    return [dict(row) for row in conn.execute(sql, (limit,) if limit else ())]


# What others (people, other imports, merges) may have added to the customers a batch added, which
# deleting those customers would delete too: (what, plural, SQL giving (id or description, customer)).
# Imports never make follow-ups; a tag is the batch's when its latest addition is the customer's add.
_BATCH_CUSTOMERS = "SELECT id FROM customers WHERE batch_id = :b"
_ADDED_SINCE = (
    ("interaction", "interactions", f"""SELECT id, customer_id FROM interactions WHERE batch_id IS NOT :b
                                          AND customer_id IN ({_BATCH_CUSTOMERS}) ORDER BY id"""),
    ("feedback", "feedback", f"""SELECT id, customer_id FROM feedback WHERE batch_id IS NOT :b
                                   AND customer_id IN ({_BATCH_CUSTOMERS}) ORDER BY id"""),
    ("follow-up", "follow-ups", f"""SELECT id, customer_id FROM followups WHERE customer_id IN ({_BATCH_CUSTOMERS})
                                     ORDER BY id"""),
    ("tag added since", "tags added since",
     f"""SELECT t.tag || ' on customer ' || t.customer_id, t.customer_id FROM customer_tags t
          WHERE t.customer_id IN ({_BATCH_CUSTOMERS})
            AND coalesce((SELECT h.action FROM customer_history h WHERE h.customer_id = t.customer_id
                           AND h.field = 'tag' AND h.new_value = t.tag ORDER BY h.id DESC LIMIT 1), 'edit') <> 'add'
          ORDER BY t.customer_id, t.tag"""),
    ("customer merged in", "customers merged in",
     f"""SELECT h.new_value || ' into ' || h.customer_id, h.customer_id FROM customer_history h
          WHERE h.customer_id IN ({_BATCH_CUSTOMERS}) AND h.action = 'merge' AND h.field = 'merged_from'
          ORDER BY h.id"""),
)


def _added_since(conn: sqlite3.Connection, batch_id: int) -> str | None:
    """What others added to the batch's customers, in words with counts and ids; None if nothing."""
    parts, owners = [], set()
    for one, many, sql in _ADDED_SINCE:
        total = conn.execute(f"SELECT count(*) FROM ({sql})", {"b": batch_id}).fetchone()[0]
        if not total:
            continue
        shown = conn.execute(f"{sql} LIMIT {MAX_LISTED_NAMES}", {"b": batch_id}).fetchall()
        owners.update(conn.execute(f"SELECT DISTINCT customer_id FROM ({sql}) LIMIT {MAX_LISTED_NAMES}",
                                   {"b": batch_id}).fetchall())
        listed = ", ".join(str(row[0]) for row in shown) + (f" and {total - len(shown)} more" if total > len(shown)
                                                            else "")
        label = ("id " if total == 1 else "ids ") if isinstance(shown[0][0], int) else ""
        parts.append(f"{total} {one if total == 1 else many} ({label}{listed})")
    if not parts:
        return None
    ids = sorted(customer for (customer,) in owners)
    whose = ", ".join(map(str, ids[:MAX_LISTED_NAMES])) + (" and more" if len(ids) > MAX_LISTED_NAMES else "")
    return (f"{'; '.join(parts)}, on {'customer' if len(ids) == 1 else 'customers'} {whose} (see `crm customer show "
            f"{ids[0]}` and `crm customer history {ids[0]}`)")


def undo(conn: sqlite3.Connection, batch_id: int, *, force: bool = False) -> dict[str, int]:
    """Remove what a batch added (call inside a transaction). Returns the counts removed.

    Customers the batch added go with their tags. If others (another import, a
    person, a merge) have since added interactions, feedback, follow-ups, tags or
    merged customers to such a customer, undo refuses, naming them, unless force,
    which deletes those too (and counts them). Customers the batch updated keep
    their new values: updates are not undone.
    """
    batch = conn.execute("SELECT * FROM import_batches WHERE id = ?", (batch_id,)).fetchone() \
        if 0 < batch_id <= customers.SQLITE_MAX_INTEGER else None
    if batch is None:
        raise NotFound(f"batch: no import batch {batch_id}; `crm import list` shows them")
    if batch["undone_at"] is not None:
        raise Conflict(f"batch: import batch {batch_id} was already undone at {batch['undone_at']}")
    others = _added_since(conn, batch_id)
    if others and not force:
        raise Conflict(f"batch: customers added by import batch {batch_id} now also have what it did not add: "
                       f"{others}; remove those (or undo the imports that added them) first, or add --force to "
                       "delete them as well")
    b = {"b": batch_id}
    removed = {"interactions": 0, "feedback": 0, "customers": 0, "followups": 0, "tags": 0}
    # First what others added to the batch's customers (none without force), while the indexes are there.
    for table in ("interactions", "feedback"):
        removed[table] = conn.execute(f"DELETE FROM {table} WHERE batch_id IS NOT :b "
                                      f"AND customer_id IN ({_BATCH_CUSTOMERS})", b).rowcount
    removed["followups"] = conn.execute(f"DELETE FROM followups WHERE customer_id IN ({_BATCH_CUSTOMERS})",
                                        b).rowcount
    removed["tags"] = conn.execute(f"SELECT count(*) FROM customer_tags WHERE customer_id IN ({_BATCH_CUSTOMERS})",
                                   b).fetchone()[0]  # they go with their customers (and into their history)
    count = conn.execute("SELECT count(*) FROM interactions WHERE batch_id = ?", (batch_id,)).fetchone()[0]
    rows = conn.execute("SELECT coalesce(max(id), 0) FROM interactions").fetchone()[0]
    rebuild = []
    if _worth_rebuilding(count, rows):
        rebuild = _drop_secondary_indexes(conn, "interactions", keep=("interactions_batch",))
    removed["interactions"] += conn.execute("DELETE FROM interactions WHERE batch_id = ?", (batch_id,)).rowcount
    for sql in rebuild:
        conn.execute(sql)
    removed["feedback"] += conn.execute("DELETE FROM feedback WHERE batch_id = ?", (batch_id,)).rowcount
    removed["customers"] = conn.execute("DELETE FROM customers WHERE batch_id = ?", (batch_id,)).rowcount
    removed["updated_not_undone"] = batch["updated"]
    conn.execute("UPDATE import_batches SET undone_at = ? WHERE id = ?", (values.now().isoformat(), batch_id))
    return removed
