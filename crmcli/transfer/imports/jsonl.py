"""JSON Lines in: one object a line, its keys the columns of the CSV import (what `crm export
--format jsonl` writes), so an export imports back into an empty database as it was.

Each object becomes a row of cells under a fixed header (every column of the kind, and `error`),
and the kind's importer checks it exactly as a CSV row: the same parsers, the same
`line N, column C: what is wrong ('value')`, all or nothing, --skip-invalid and its rejects
file (JSON Lines too: each bad line's object with an `error` key). Keys go through --map and
--ignore-extra as a CSV header does; the first object's unknown keys refuse the file before
anything is read (it is most likely a file of another kind), a later one's refuse that line.

How a JSON value becomes a cell:

* a string is the text, exactly (JSON has no formula apostrophe to take off: the cell gets the
  one escape_apostrophe adds, so that the importers' unescape gives the text back unchanged);
* a number is its text as the file writes it (12.5, 7, 1e3: never rounded through a float),
  checked by the field's parser: fine for amount, rating and ids; in a text field (an
  external_id of 1234) it is that text;
* null, or a key that is not there, is an empty cell;
* a list only for tags (each a string or number, none containing ';'), like 'vip;online';
* true, false, an object, or a list anywhere else: an error naming the key and the value.

JSON Lines files are read by the main process alone (the worker processes cut CSV blocks).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any, TextIO

from crmcli.errors import InvalidInput
from crmcli.transfer import csvfiles
from crmcli.transfer.csvcells import escape_apostrophe
from crmcli.transfer.imports import blocks
from crmcli.transfer.imports.base import Importer, problem
from crmcli.transfer.imports.header import COLUMNS, ERROR_COLUMN, Header, checked_map, listed_names
from crmcli.transfer.imports.options import Options

_LIST_COLUMNS = ("tags",)  # the one column whose JSON value may be a list
MAX_KEYS_KEPT = 1000  # distinct keys remembered (and extra ones listed): a hostile file cannot grow them without end


class Record(list):
    """A row's cells, with the line of the file it came from (for the rejects file)."""

    __slots__ = ("text",)
    text: str


class BadRecord(Record):
    """A line that gives no row (not JSON, not an object, a value no field takes): its problems,
    described. It has one cell, so it is never as wide as the header: the importers' width check
    hands it to Importer.width_problem, which reports these problems."""

    __slots__ = ("problems",)
    problems: list[str]


class _Pairs(list):
    """An object's (key, value) pairs as the file has them, repeated keys included."""


_DECODER = json.JSONDecoder(object_pairs_hook=_Pairs, parse_float=str, parse_int=str, parse_constant=str)


class Reader:
    """The rows of a JSON Lines file: Reader(...).header, then iterate for (line, cells)."""

    def __init__(self, source_lines: csvfiles.Lines, kind: str, source: str, options: Options):
        self.kind, self.source, self.options = kind, source, options
        self.mapping = checked_map(options.columns, kind)
        self.spelled = {target: given for given, target in options.columns if target is not None}
        names = [*COLUMNS[kind], ERROR_COLUMN]
        self.header = Header(raw=list(names), names=list(names))
        self.width = len(names)
        self.position = {name: n for n, name in enumerate(names)}
        self._names: dict[str, str | None] = {}  # a key as the file writes it -> crm's name, None: left out
        self._unknown: set[str] = set()
        self._mapped_seen: set[str] = set()
        self._lines = enumerate(source_lines, start=1)
        self._first: tuple[int, str, Any] | None = self._first_record()

    def _first_record(self) -> tuple[int, str, Any] | None:
        """The first object, its keys checked as a CSV header is: unknown ones refuse the file.
        None for a file of no objects (an export of nothing): it imports nothing."""
        for line, text in self._lines:
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            value, wrong = _decoded(text)
            if wrong is not None:
                if wrong.startswith("is not JSON ("):
                    wrong += "; a JSON Lines file has one object a line (for a CSV file, leave out --format jsonl)"
                elif wrong.startswith("is a JSON"):
                    wrong += '; a JSON Lines file has one object a line, e.g. {"name": "Ann"}'
                raise InvalidInput("file", self.source, f"line {line}: {wrong}")
            unknown = [key for key, _ in value if self.name_of(key) is not None
                       and self.name_of(key) not in self.position]
            if unknown and not self.options.ignore_extra:
                raise InvalidInput("file", self.source, f"line {line}: unknown key {listed_names(unknown)}. The "
                                   f"{self.kind} keys are: {', '.join(COLUMNS[self.kind])} (--ignore-extra leaves "
                                   "unknown ones out, --map renames them)")
            return line, text, value
        return None

    def name_of(self, key: str) -> str | None:
        """crm's name for a key (after --map); None for one left out (mapped to nothing, or unknown
        with --ignore-extra, which is then listed in ignored_columns)."""
        try:
            return self._names[key]
        except KeyError:
            pass
        cleaned = key.strip().lower()
        name: str | None = cleaned
        if cleaned in self.mapping:
            self._mapped_seen.add(cleaned)
            name = self.mapping[cleaned]
        if name is not None and name not in self.position and self.options.ignore_extra:
            if cleaned not in self._unknown:
                if len(self._unknown) < MAX_KEYS_KEPT:
                    self._unknown.add(cleaned)
                    self.header.ignored.append(key)
                else:
                    self.header.ignored_truncated = True
            name = None
        if len(self._names) < MAX_KEYS_KEPT:
            self._names[key] = name
        return name

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        if self._first is not None:
            line, text, value = self._first
            self._first = None
            yield line, self.record(value, text, line)
        for line, text in self._lines:
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            value, wrong = _decoded(text)
            yield line, (self.record(value, text, line) if wrong is None else _bad(text, [f"line {line}: {wrong}"]))
        never = [given for given, _ in self.options.columns if given.strip().lower() not in self._mapped_seen]
        if never:
            raise InvalidInput("map", never[0], f"is not a key of any object in {self.source}")

    def record(self, pairs: list[tuple[str, Any]], text: str, line: int) -> Record:
        """An object's values as the header's cells; a BadRecord if any key or value cannot be one."""
        cells = Record([""] * self.width)
        cells.text = text
        problems: list[str] = []
        unknown: list[str] = []
        given: dict[int, str] = {}
        for key, value in pairs:
            name = self.name_of(key)
            if name is None:
                continue
            position = self.position.get(name)
            if position is None:
                unknown.append(key)
                continue
            if position in given:
                problems.append(f"line {line}: key {key!r} twice" if given[position] == key else
                                f"line {line}: keys {given[position]!r} and {key!r} both give {name}")
                continue
            given[position] = key
            try:
                cells[position] = _cell(name, value)
            except InvalidInput as exc:
                problems.append(problem(line, exc, self.position, self.spelled))
        if unknown:
            problems.insert(0, f"line {line}: unknown key {listed_names(unknown)}; the {self.kind} keys are: "
                            + ", ".join(COLUMNS[self.kind]))
        return _bad(text, problems) if problems else cells


def prepared_chunks(reader: Reader, importer: Importer) -> Generator[Any, None, None]:
    """importer.prepare_chunk() of each blocks.CHUNK_ROWS rows of the file."""
    rows: list[tuple[int, list[str]]] = []
    for row in reader:
        rows.append(row)
        if len(rows) == blocks.CHUNK_ROWS:
            yield importer.prepare_chunk(rows)
            rows = []
    if rows:
        yield importer.prepare_chunk(rows)


class RejectsWriter:
    """The rejects file of a JSON Lines import: each bad line's object with an `error` key (what is
    wrong), in the order read; a line that was no object comes as {"error": ..., "line_text": ...}."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def reject(self, cells: list[str], described: str) -> None:
        text = getattr(cells, "text", "")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict):
            value = {"line_text": text}
        value[ERROR_COLUMN] = described
        self.stream.write(json.dumps(value, ensure_ascii=False) + "\n")


def _cell(name: str, value: Any) -> str:
    """A JSON value as the text of a cell (see the module's docstring), or InvalidInput naming it."""
    if value is None:
        return ""
    if isinstance(value, str):  # strings, and numbers as the file writes them (parse_float=str)
        return escape_apostrophe(value)
    if isinstance(value, _Pairs):
        raise InvalidInput(name, _shown(value), "is a JSON object; give text, a number or null")
    if isinstance(value, list):
        if name not in _LIST_COLUMNS:
            raise InvalidInput(name, _shown(value), "is a JSON list; only tags may be one")
        for item in value:
            if not isinstance(item, str):
                raise InvalidInput(name, _shown(value), "is a list of tags, each text: " + _shown(item) + " is not")
            if ";" in item:
                raise InvalidInput(name, item, "is a tag in a list; a tag cannot contain ';'")
        return escape_apostrophe(";".join(value))
    # json gives bool for true and false; every other kind of value is handled above.
    raise InvalidInput(name, _shown(value), "is a JSON true or false; give text, a number or null")


def _decoded(text: str) -> tuple[Any, str | None]:
    """(the line's object as its pairs, None), or (None, what is wrong with the line)."""
    try:
        value = _DECODER.decode(text)
    except ValueError as exc:
        return None, f"is not JSON ({_said(exc)})"
    except RecursionError:  # [[[[... thousands deep: json's decoder recurses per level
        return None, "is not JSON crm reads: it is nested too deeply"
    if type(value) is not _Pairs:
        return None, f"is a JSON {_json_type(value)}, not an object"
    if "\\u" in text:  # only a \u escape can give a lone surrogate: the line itself is UTF-8
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            return None, (f"has a \\u escape that is half of a UTF-16 pair (\\u{ord(exc.object[exc.start]):04x}), "
                          "not a character")
    return value, None


def _bad(text: str, problems: list[str]) -> BadRecord:
    record = BadRecord([text])
    record.text, record.problems = text, problems
    return record


def _shown(value: Any) -> str:
    """A value as JSON text, for a message (shortened: an error line stays a line)."""
    if isinstance(value, _Pairs):
        value = dict(value)
    shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string or number"
    return "true, false or null" if value in (True, False, None) else type(value).__name__


def _said(exc: ValueError) -> str:
    return f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
