"""A file's rows for the importers: CHUNK_ROWS at a time in this process, or cut into blocks of
whole records (BLOCK_BYTES each) for the worker processes (workers.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from crmcli.transfer import csvfiles

if TYPE_CHECKING:
    from crmcli.transfer.imports.base import Importer

CHUNK_ROWS = 2000  # rows read and checked together
BLOCK_BYTES = 1 << 20  # bytes of the file a worker process prepares at a time
MAX_CARRY_BYTES = 8 * BLOCK_BYTES  # a record longer than this stops the splitting into blocks


def prepared_chunks(reader: Any, source_lines: csvfiles.Lines, importer: Importer, source: str,
                    ) -> Generator[Any, None, None]:
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


def numbered_rows(reader: Any, first_line: int) -> list[tuple[int, list[str]]]:
    """(line each record starts on, its cells) for a reader over a block; blank lines skipped."""
    rows = []
    consumed = 0
    for cells in reader:
        start = first_line + consumed
        consumed = reader.line_num
        if cells:
            rows.append((start, cells))
    return rows


class BlockRows:
    """A block's rows, parsed again in the main process only when a row is needed (a rejected row
    for the rejects file, a row whose customer is not there)."""

    def __init__(self, block: bytes, first_line: int, delimiter: str):
        self.block, self.first_line, self.delimiter = block, first_line, delimiter
        self._rows: list[tuple[int, list[str]]] | None = None

    def row(self, index: int) -> tuple[int, list[str]]:
        if self._rows is None:
            text = io.StringIO(self.block.decode("utf-8"), newline="")
            self._rows = numbered_rows(csv.reader(text, delimiter=self.delimiter, strict=True), self.first_line)
        return self._rows[index]


class ChunkRows:
    """chunk.rows[position] for a chunk prepared in a worker: its rows are in the main process's block."""

    __slots__ = ("rows", "offset")

    def __init__(self, rows: BlockRows, offset: int):
        self.rows, self.offset = rows, offset

    def __getitem__(self, position: int) -> tuple[int, list[str]]:
        return self.rows.row(self.offset + position)


class NoBoundary(Exception):
    """No record boundary within MAX_CARRY_BYTES: what was read and not yet cut, and its first line."""

    def __init__(self, carry: bytes, line: int):
        super().__init__()
        self.carry, self.line = carry, line


def record_blocks(stream: BinaryIO, counter: csvfiles.Lines) -> Iterator[tuple[bytes, int]]:
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
        cut = _last_record_end(data)
        if cut < 0:
            carry = data
            if len(carry) > MAX_CARRY_BYTES:
                # No record boundary in sight: a quote inside an unquoted cell (5" screen) makes the
                # count useless. The caller goes on with the rest of the file in this process.
                raise NoBoundary(carry, line)
            continue
        block, carry = data[:cut], data[cut:]
        yield block, line
        line += block.count(b"\n")
    if carry:
        yield carry, line


def _last_record_end(data: bytes) -> int:
    """Where the last whole record in data ends (after its newline), or -1: the last newline with
    an even number of quote characters before it."""
    end = len(data)
    while end > 0:
        newline = data.rfind(b"\n", 0, end)
        if newline < 0:
            break
        if data.count(b'"', 0, newline) % 2 == 0:
            return newline + 1
        end = newline
    return -1
