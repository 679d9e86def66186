"""The bytes and text of a CSV file, as crm's imports read it.

Before a row is checked (crmcli.transfer.imports does that), the file has to be read:
a file that is not CSV text (a workbook, a PDF, a database) is refused by name;
a UTF-16 or UTF-32 file with a byte-order mark is read as UTF-8; lines are
decoded and counted one at a time, so that a byte that is not UTF-8, or CSV that
does not parse, is reported with its line (and column) and the likely fix; and
the delimiter is taken from --delimiter or from the header line.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator
from typing import Any, BinaryIO

from crmcli.errors import CrmError, InvalidInput

# Hostile files: a line longer than this (no line break in 16 MB: a binary file, or a cell that
# never ends) is refused rather than read into memory whole.
MAX_LINE_BYTES = 16 << 20

_DELIMITERS = {",": ",", ";": ";", "\t": "\t", "|": "|", "tab": "\t", "\\t": "\t"}


# Files that are something other than CSV text, by their first bytes: what they are and what to do.
_NOT_CSV_MAGIC = (
    (b"PK\x03\x04", "is a zip file, such as an Excel (.xlsx) or LibreOffice (.ods) workbook, not CSV text; "
                     "save it from the spreadsheet as 'CSV UTF-8'"),
    (b"\xd0\xcf\x11\xe0", "is an old Excel (.xls) workbook, not CSV text; save it from Excel as 'CSV UTF-8'"),
    (b"%PDF", "is a PDF document, not CSV text"),
    (b"\x1f\x8b", "is compressed (gzip); unpack it first (gunzip)"),
    (b"SQLite format 3\x00", "is an SQLite database, not CSV text (to bring back a crm backup, use crm restore)"),
)
_WIDE_BOMS = (  # longest first: UTF-32's little-endian mark starts like UTF-16's
    (b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"),
)


def utf8_stream(stream: BinaryIO, source: str) -> BinaryIO:
    """The stream as UTF-8 bytes. A file with a UTF-16 or UTF-32 byte-order mark (Excel's "Unicode
    Text") is decoded, which the mark makes reliable; a known binary format is refused by name."""
    head, stream = _peek(stream, 16)
    for magic, what in _NOT_CSV_MAGIC:
        if head.startswith(magic):
            raise InvalidInput("file", source, what)
    for bom, encoding in _WIDE_BOMS:
        if head.startswith(bom):
            stream.read(len(bom))
            return io.BufferedReader(_Transcoded(stream, encoding, source), buffer_size=1 << 16)
    return stream


def _peek(stream: BinaryIO, size: int) -> tuple[bytes, Any]:
    """The first bytes of a stream, leaving them to be read (or a stream that gives them again).
    The Python API also takes any iterable of byte lines."""
    if not hasattr(stream, "read"):
        lines = iter(stream)
        first = next(lines, b"")
        rest = itertools.chain([first], lines)
        head = first[:size]
        if any(head.startswith(bom) for bom, _ in _WIDE_BOMS):
            return head, io.BufferedReader(_IterableStream(rest))
        return head, rest
    peek = getattr(stream, "peek", None)
    if peek is not None:
        return peek(size)[:size], stream
    if getattr(stream, "seekable", lambda: False)():
        position = stream.tell()
        head = stream.read(size)
        stream.seek(position)
        return head, stream
    head = stream.read(size)
    return head, io.BufferedReader(Prepended(head, stream))


class _IterableStream(io.RawIOBase):
    """An iterable of byte chunks as a readable binary stream."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks, self.pending = chunks, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending:
            chunk = next(self.chunks, None)
            if chunk is None:
                return 0
            self.pending = chunk
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


class _Transcoded(io.RawIOBase):
    """A UTF-16 or UTF-32 stream (with its byte-order mark) read as UTF-8 bytes, a block at a time."""

    def __init__(self, stream: BinaryIO, encoding: str, source: str):
        import codecs

        self.stream, self.encoding, self.source = stream, encoding, source
        self.decoder = codecs.getincrementaldecoder(encoding)("strict")
        self.pending = b""
        self.lines = 1
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self.pending and not self.done:
            data = self.stream.read(1 << 16)
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                line = self.lines + exc.object[:exc.start].decode(self.encoding, "ignore").count("\n")
                name = self.encoding[:6].upper()
                raise CrmError(f"file: {self.source}: starts with a {name} byte-order mark, but line {line} is "
                               f"not {name} text; save it as 'CSV UTF-8' and try again") from None
            self.done = not data
            self.lines += text.count("\n")
            self.pending = text.encode("utf-8", "surrogatepass")
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        return size


class Prepended(io.RawIOBase):
    """A binary stream with some bytes put back in front of it."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                data, self.head = self.head + self.stream.read(), b""
                return data
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.stream.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class Lines:
    """The text lines of a UTF-8 byte stream (a BOM is dropped), counted, decoded one at a
    time so that a byte that is not UTF-8 is reported with its line (and column). A line
    longer than MAX_LINE_BYTES is refused, not read into memory whole."""

    def __init__(self, stream: BinaryIO, source: str):
        self.stream = stream
        self.source = source
        self.count = 0
        self.bytes = 0
        self.header: list[str] | None = None  # known once line 1 is read: names the column of a bad byte
        self.delimiter = ","
        self.record_start = 1  # the line the row being read starts on

    def spawn(self, stream: BinaryIO) -> Lines:
        """Lines of the rest of the same file, read from another stream."""
        lines = Lines(stream, self.source)
        lines.header, lines.delimiter = self.header, self.delimiter
        return lines

    def __iter__(self) -> Iterator[str]:
        readline = getattr(self.stream, "readline", None)
        # A stream is read a bounded line at a time; an iterable of lines (the Python API) as it comes.
        raw_lines = iter(lambda: readline(MAX_LINE_BYTES + 1), b"") if readline else iter(self.stream)
        for raw in raw_lines:
            self.count += 1
            self.bytes += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                raise InvalidInput("file", self.source, f"line {self.count} is longer than {MAX_LINE_BYTES >> 20} MB "
                                   "without a line break: this is not a CSV file crm can read (a binary file, or "
                                   "a quoted cell that never ends)")
            if self.count == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise not_utf8(self.source, self.count, raw, header=self.header, delimiter=self.delimiter,
                               record_start=self.record_start == self.count) from None


def not_utf8(source: str, line: int, raw: bytes = b"", *, header: list[str] | None = None,
             delimiter: str = ",", record_start: bool = False) -> CrmError:
    """A line that is not UTF-8: which file, line and (when the line starts a row) column, the
    text as it reads with the bad bytes shown as \\xNN, and the likely encoding with the fix."""
    where, shown = "", ""
    if raw:
        text = raw.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
        bad = next((n for n, ch in enumerate(text) if "\udc80" <= ch <= "\udcff"), 0)
        shown = text[max(0, bad - 30):bad + 30]
        if header and record_start:
            try:
                cells = next(csv.reader([text], delimiter=delimiter))
            except (csv.Error, StopIteration):
                cells = []
            column = next((n for n, cell in enumerate(cells) if any("\udc80" <= ch <= "\udcff" for ch in cell)), None)
            if column is not None and column < len(header):
                where, shown = f", column {header[column]}", cells[column]
        # The bytes that are not UTF-8 as \\xNN (the error boundary escapes any control characters).
        shown = " ('" + shown.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") + "')"
    try:
        raw.decode("cp1252")
        looks = ("it looks like Windows-1252 / Latin-1, what Excel writes for plain 'CSV'. Save it from the "
                 f"spreadsheet as 'CSV UTF-8', or convert it: iconv -f WINDOWS-1252 -t UTF-8 {source} > converted.csv")
    except UnicodeDecodeError:
        looks = "save the file as 'CSV UTF-8' (or convert it with iconv) and try again"
    if raw.count(b"\x00") * 4 >= len(raw) > 0:
        looks = "it looks like UTF-16 without a byte-order mark; save it as 'CSV UTF-8' and try again"
    return CrmError(f"file: {source}: line {line} is not UTF-8 text{where}{shown}; {looks}")


# csv's own words for what went wrong -> what it means in a file a person saved.
_CSV_ERRORS = (
    ("unexpected end of data", "the file ends inside a quoted cell: a \" that opens a cell on line {start} is "
                               "never closed"),
    ("field larger than field limit", "a cell from line {start} is longer than {limit} characters, the most crm "
                                      "reads in one cell (or a \" that opens a cell is never closed)"),
    ("expected after", "a quoted cell must end at its closing \" (a \" inside a quoted cell is written \"\")"),
)


def not_csv(source: str, line: int, error: str, *, record_start: int | None = None) -> InvalidInput:
    for fragment, meaning in _CSV_ERRORS:
        if fragment in error:
            start = record_start or line
            if "{start}" in meaning and start != line:
                line = start
            error = meaning.format(start=start, limit=csv.field_size_limit()) + f" ({error})"
            break
    return InvalidInput("file", source, f"line {line}: is not valid CSV: {error}")


def delimiter(given: str | None, header_line: str) -> str:
    if given is not None:
        if given.lower() in _DELIMITERS:
            return _DELIMITERS[given.lower()]
        if len(given) != 1 or given in "\"\r\n" or given.isalnum():
            raise InvalidInput("delimiter", given, "must be one character such as , ; | or tab")
        return given
    # The header's most frequent candidate; a one-column file has none and reads as comma-separated.
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=counts.__getitem__)
    return best if counts[best] else ","
