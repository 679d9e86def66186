"""One import from start to end: the request checked, the header read (or a JSON Lines file's keys),
the rows prepared (here or in worker processes) and taken by the kind's importer in one transaction,
the batch recorded, and the bad rows listed or written to the rejects file."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, nullcontext
from typing import Any, BinaryIO, TextIO

from crmcli import db, values
from crmcli.db import Connection
from crmcli.errors import InvalidInput
from crmcli.transfer import csvcells, csvfiles
from crmcli.transfer.imports import blocks, jsonl, workers
from crmcli.transfer.imports.base import Importer
from crmcli.transfer.imports.customers import CustomerImporter
from crmcli.transfer.imports.feedback import FeedbackImporter
from crmcli.transfer.imports.header import ERROR_COLUMN, Header, open_reader
from crmcli.transfer.imports.interactions import InteractionImporter
from crmcli.transfer.imports.options import (
    FORMATS,
    KINDS,
    MAX_LISTED_ERRORS,
    ON_CONFLICT,
    ImportFailed,
    Options,
    Progress,
    Result,
    check_date_format,
)

IMPORTERS: dict[str, type[Importer]] = {
    "customers": CustomerImporter,
    "interactions": InteractionImporter,
    "feedback": FeedbackImporter,
}

RejectsTo = Callable[[], AbstractContextManager[TextIO]]
_DEFAULT_OPTIONS = Options()


def import_csv(
    conn: Connection,
    kind: str,
    stream: BinaryIO,
    *,
    source: str,
    options: Options = _DEFAULT_OPTIONS,
    rejects: TextIO | None = None,
    rejects_to: RejectsTo | None = None,
    progress: Progress | None = None,
) -> Result:
    """Import one CSV or JSON Lines file (options.format; a binary stream) in one transaction;
    returns what happened.

    Raises ImportFailed when rows are bad and options.skip_invalid is off; the
    database is then as it was. With skip_invalid, bad rows go to `rejects`, or to
    the file `rejects_to()` opens (output.destination): that is closed, so written
    whole, before the import commits, and a failure to write it rolls the import
    back (run again, it imports the good rows once, not twice).
    """
    rejects_to = _checked_request(kind, options, rejects, rejects_to)
    started = time.monotonic()
    stream = csvfiles.utf8_stream(stream, source)
    source_lines = csvfiles.Lines(stream, source)
    file = _File(kind, stream, source_lines, source, options)
    result = Result(kind=kind, source=source, dry_run=options.dry_run, ignored_columns=file.header.ignored)
    importer_class = IMPORTERS[kind]
    try:
        with _bulk_runtime(), _foreign_keys_checked_by(importer_class, conn), db.transaction(conn):
            batch_id = conn.execute(
                "INSERT INTO import_batches (kind, source, started_at) VALUES (?, ?, ?) RETURNING id",
                (kind, source, values.now().isoformat()),
            ).fetchall()[0][0]
            assert batch_id is not None  # an INSERT always sets it
            importer = importer_class(conn, batch_id, file.header.names, options)
            chunks = file.chunks(importer)
            # closing: on an error the workers stop now, not when the traceback is freed. The rejects
            # file's block ends (flushed, fsynced, renamed into place) before the commit below.
            with closing(chunks), (rejects_to() if rejects_to else nullcontext()) as rejects_out:
                rejects_writer = file.rejects_writer(rejects_out) if rejects_out else None
                problem_count = _take_chunks(importer, chunks, result, rejects_writer, source_lines, progress)
                # Rolled back anyway (a dry run, or bad rows with nothing to import): skip the index rebuild.
                importer.finish(rebuild=not options.dry_run and not (result.rejected and not options.skip_invalid))
            result.added, result.updated, result.skipped = importer.added, importer.updated, importer.skipped
            result.customers_created = importer.customers_created
            result.ignored_truncated = file.header.ignored_truncated
            if result.rejected and not options.skip_invalid:
                raise ImportFailed(source, result.errors, result.rejected, problem_count)
            _record_batch(conn, batch_id, result)
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        result.batch_id = None
    result.seconds = time.monotonic() - started
    return result


def _checked_request(kind: str, options: Options, rejects: TextIO | None,
                     rejects_to: RejectsTo | None) -> RejectsTo | None:
    """Refuse what cannot be imported before the file is opened; returns where rejects go."""
    if kind not in KINDS:
        raise InvalidInput("kind", kind, "must be one of " + ", ".join(KINDS))
    if options.on_conflict not in ON_CONFLICT:
        raise InvalidInput("on-conflict", options.on_conflict, "must be one of " + ", ".join(ON_CONFLICT))
    if options.format not in FORMATS:
        raise InvalidInput("format", options.format, "must be one of " + ", ".join(FORMATS))
    if options.format == "jsonl" and options.delimiter is not None:
        raise InvalidInput("delimiter", options.delimiter, "is for CSV files; a JSON Lines file has none")
    if rejects is not None and rejects_to is None:
        rejects_to = _left_open(rejects)
    if options.skip_invalid and rejects_to is None:
        raise InvalidInput("rejects", None, "is required with --skip-invalid, so no row is dropped without a trace")
    check_date_format(options.date_format)
    return rejects_to


class _File:
    """The file being imported: its checked header (or JSON Lines keys), then its prepared chunks,
    and a writer for its rejects file in its own format."""

    def __init__(self, kind: str, stream: BinaryIO, source_lines: csvfiles.Lines, source: str, options: Options):
        self.stream, self.source_lines, self.source = stream, source_lines, source
        self.jsonl: jsonl.Reader | None = None
        if options.format == "jsonl":
            self.jsonl = jsonl.Reader(source_lines, kind, source, options)
            self.header, self.delimiter = self.jsonl.header, ","
        else:
            self.reader, self.header, self.delimiter = open_reader(source_lines, kind, source, options)

    def chunks(self, importer: Importer) -> Generator[Any, None, None]:
        """The prepared chunks: from worker processes for a big CSV file of a parallel kind, else from here."""
        if self.jsonl is not None:
            return jsonl.prepared_chunks(self.jsonl, importer)
        count = workers.worker_count() if importer.parallel and hasattr(self.stream, "read") else 0
        if count:
            return workers.chunks_from_workers(self.stream, self.source_lines, importer, self.delimiter, self.source,
                                               count)
        return blocks.prepared_chunks(self.reader, self.source_lines, importer, self.source)

    def rejects_writer(self, stream: TextIO) -> _CsvRejects | jsonl.RejectsWriter:
        if self.jsonl is not None:
            return jsonl.RejectsWriter(stream)
        return _CsvRejects(stream, self.header, self.delimiter)


def _take_chunks(importer: Importer, chunks: Iterator[Any], result: Result,
                 rejects_writer: _CsvRejects | jsonl.RejectsWriter | None,
                 source_lines: csvfiles.Lines, progress: Progress | None) -> int:
    """Every chunk taken into the database; each bad row counted in result.rejected, its problems listed
    (the first MAX_LISTED_ERRORS) and the row written to the rejects file. Returns the number of problems."""
    problem_count = 0
    for chunk in chunks:
        rows, bad = importer.take_chunk(chunk)
        result.rows_read += rows
        for cells, problems in bad:
            result.rejected += 1
            problem_count += len(problems)
            if len(result.errors) < MAX_LISTED_ERRORS:
                result.errors.extend(problems[: MAX_LISTED_ERRORS - len(result.errors)])
            if rejects_writer is not None:
                rejects_writer.reject(cells, "; ".join(problems))
        if progress:
            progress(result.rows_read, source_lines.bytes)
    return problem_count


def _record_batch(conn: Connection, batch_id: int, result: Result) -> None:
    """What the import did, on its batch record (`crm import list`)."""
    conn.execute(
        """UPDATE import_batches SET finished_at = ?, rows_read = ?, added = ?, updated = ?, skipped = ?,
                  rejected = ?, customers_created = ? WHERE id = ?""",
        (values.now().isoformat(), result.rows_read, result.added, result.updated, result.skipped,
         result.rejected, result.customers_created, batch_id),
    )
    result.batch_id = batch_id


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
def _foreign_keys_checked_by(importer_class: type[Importer], conn: Connection) -> Iterator[None]:
    """For an importer that checks foreign keys itself, SQLite's per-row check is off.

    The bulk path writes only customer ids it has just read from the customers
    table, in the same write transaction, and checks them all again in one query
    at the end (InteractionImporter.finish). SQLite's own check, a lookup per
    row, would cost about a third of the time spent inserting. The setting can
    only change outside a transaction, so it wraps the import's.
    """
    if not importer_class.checks_foreign_keys or conn.in_transaction or db.is_server(conn):  # a server checks
        yield
        return
    enforced = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def _left_open(stream: TextIO) -> RejectsTo:
    """A rejects stream the caller closes, as the block the import writes it in."""
    return lambda: nullcontext(stream)


class _CsvRejects:
    """The rejects file of a CSV import, its header row written first: the rows as they were read
    (the file's own column names, so the same --map reads it again), with the error in the last
    column, or in the error column of a rejects file that is being imported again. A cell a
    spreadsheet would run as a formula gets the apostrophe every crm CSV puts before one (import
    takes it off again)."""

    def __init__(self, stream: TextIO, header: Header, delimiter: str):
        self.writer = csvcells.writer(stream, delimiter=delimiter)  # LF or --crlf, CR-safe
        self.width = len(header.names)
        self.error_at = header.names.index(ERROR_COLUMN) if ERROR_COLUMN in header.names else None
        self._write(header.raw if self.error_at is not None else [*header.raw, ERROR_COLUMN])

    def reject(self, cells: list[str], described: str) -> None:
        if self.error_at is not None and len(cells) == self.width:
            row = list(cells)
            row[self.error_at] = described
        else:
            row = [*cells, described]
        self._write(row)

    def _write(self, row: list[str]) -> None:
        self.writer.writerow([csvcells.neutralise(value) for value in row])


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back."""
