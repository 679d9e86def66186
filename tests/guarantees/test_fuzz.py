"""Fuzzing the command line and the importers (issue #5) with Hypothesis.

Argument lists are generated from the real command tree: a command path from the Typer app, then
a random choice of its options and arguments with random or hostile values (huge and negative
numbers, 0000-00-00 and 9999-12-31, empty strings, SQL, escape sequences, emoji). Import files
are random bytes, and random rows under a valid header. Whatever comes:

* never a traceback: the exit code is one of README's (0, 1, 2, 3, 4), no "Traceback" in the
  output, and the only exception that leaves a command is SystemExit;
* a command that failed (exit code not 0) left the database exactly as it was (a full dump).

Random command lines mostly stop at the option parser or the first check, before any write. So a
second family starts from valid command lines of every writing command (and valid import files)
and makes one field hostile: most of those get past parsing to the write, and a failure after
some writes must still change nothing. It counts and prints how many examples parsed, reached a
write (an INSERT, UPDATE or DELETE ran), committed, and failed after a write.

Derandomized (the same examples on every run, so CI is reproducible) and small: a few hundred
examples in all.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from helpers import command_tree, db_dump
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmcli import db
from crmcli.cli import app
from crmcli.transfer import imports

EXIT_CODES = {0, 1, 2, 3, 4}
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])




COMMANDS = command_tree()

# Values that have broken CLIs before; mixed with random text.
HOSTILE = [
    "", " ", "0", "1", "2", "-1", "-0", "+1", "007", "1.5", "-12.345", "1e309", "-1e309", "NaN", "inf", "1,250.00",
    "99999999999999999999999999", "-99999999999999999999999999", str(2**63), str(2**63 - 1), str(-(2**63)),
    "0000-00-00", "9999-12-31", "0001-01-01", "2024-02-30", "2024-13-01", "2024-06-15T25:00", "1970-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00", "today", "yesterday", "now", "tomorrow",
    "'); DROP TABLE customers; --", "$(rm -rf ~)", "`reboot`", ";|&><", "\x1b[2J\x1b]0;pwned\x07", "\r\n", "\t",
    "\u202eevil", "👨\u200d👩\u200d👧 🇻🇳 👍🏽", "Nguyễn Văn An", "c1@example.com", "Customer", "C1",
    "--help", "-", "--",
    "%Y-%m-%d", "%d/%m/%Y %H:%M", "%", "%Q", ",", ";", "tab", "|", "x" * 300, "=1+1", "@SUM(A1)",
    "purchase", "complaint", "month", "revenue", "new_customers", "retention_rate",
]
hostile_text = st.sampled_from(HOSTILE) | st.text(st.characters(blacklist_categories=("Cs",),
                                                                blacklist_characters="\x00"), max_size=12)
huge_ints = (st.sampled_from([0, 1, -1, 2, 5, 120, 121, 2**31, 2**63, -(2**63), 10**30, -(10**30)])
             | st.integers(-50, 50))


def value_for(param, path: tuple[str, ...], folder: Path):
    """A strategy for one parameter's value (as a command-line string), from its declared type."""
    annotation = param.type_descriptor.annotation
    name = param.name
    if path == ("demo",) and name == "customers":
        # The one parameter whose large values are slow by design (up to 200,000 customers).
        return st.sampled_from(["-1", "0", "1", "3", "200001", str(10**30), "x"])
    if annotation is Path or name in ("file", "path", "rejects", "output"):
        # Only paths inside the example's own folder (or relative to it): a fuzzer running as root
        # must not be able to write anywhere else (devices: test_output_safety.py checks those).
        return st.sampled_from([str(folder / "out.csv"), str(folder / "out"), str(folder / "missing" / "x.csv"),
                                str(folder / "crm.db"), str(folder / "in.csv"), str(folder / "=evil.jsonl"),
                                str(folder), "", "-", "out"])
    if isinstance(annotation, type) and issubclass(annotation, bool):
        return st.just(None)
    if annotation is int:
        return huge_ints.map(str) | hostile_text
    if annotation is float:
        return st.floats(allow_nan=True, allow_infinity=True).map(repr) | hostile_text
    choices = getattr(annotation, "__members__", None)
    if choices:
        return st.sampled_from([member.value for member in annotation]) | hostile_text
    return hostile_text


@st.composite
def command_lines(draw, folder: Path):
    """A command of crm's tree with some of its options and its arguments."""
    path, command = draw(st.sampled_from(COMMANDS))
    argv: list[str] = list(path)
    positionals: list[str] = []
    for param in command.params:
        if param.param_type_name == "argument":
            if param.required or draw(st.booleans()):
                positionals.append(draw(value_for(param, path, folder)))
            continue
        if not (param.required or draw(st.integers(0, 2)) == 0):
            continue
        option = draw(st.sampled_from(param.opts))
        if getattr(param, "is_flag", False):
            argv.append(option)
            continue
        for _ in range(draw(st.integers(1, 2)) if param.multiple else 1):
            argv += [option, draw(value_for(param, path, folder))]
    if positionals and draw(st.booleans()):
        argv.append("--")  # so that a value such as "-1" is an argument, not an option
    return argv + positionals


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A small shop, made once: every example starts from a copy of it."""
    folder = tmp_path_factory.mktemp("fuzz-template")
    database = folder / "crm.db"
    result = CliRunner().invoke(app, ["--db", str(database), "demo", "--customers", "15", "--seed", "7"])
    assert result.exit_code == 0, result.output
    return database


def run(database: Path, argv: list[str]):
    """crm ARGV on `database`, from the database's folder: a relative path the fuzzer makes up
    ("", "-", "out") lands beside it, never in the project."""
    cwd = os.getcwd()
    os.chdir(database.parent)
    try:
        result = CliRunner().invoke(app, ["--db", str(database), *argv], catch_exceptions=True)
    finally:
        os.chdir(cwd)
    shown = (result.stdout or "") + (result.stderr or "")
    assert result.exit_code in EXIT_CODES, (argv, result.exit_code, shown[-2000:], result.exception)
    assert "Traceback" not in shown, (argv, shown[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), (argv, repr(result.exception))
    return result


@settings(max_examples=220, **SETTINGS)
@given(data=st.data())
def test_any_command_line_exits_cleanly_and_a_failure_changes_nothing(template, data):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "crm.db"
        shutil.copyfile(template, database)
        (folder / "in.csv").write_text("name,email\nFuzz Person,fuzz@example.com\n", encoding="utf-8")
        argv = data.draw(command_lines(folder), label="argv")
        before = db_dump(database)
        result = run(database, argv)
        if result.exit_code != 0:
            assert db_dump(database) == before, (argv, result.exit_code, result.stderr)


# --- valid commands with one field made hostile: deep enough to reach the writes ----------------------

class Field(str):
    """A value in a valid command line (or a cell of a valid import file) that may be made hostile."""


F = Field
COMPLAINT, FOLLOWUP, BATCH = "4", "6", "1"  # made by deep_template below
WRITE_COMMANDS = [
    ["customer", "add", F("Fuzz Person"), "--email", F("fuzz@example.com"), "--phone", F("+44 20 7946 0018"),
     "--company", F("Acme"), "--tag", F("vip"), "--note", F("hello"), "--external-id", F("X-1"),
     "--since", F("2024-01-02")],
    ["customer", "edit", F("1"), "--name", F("Renamed"), "--email", F("renamed@example.com"), "--phone", F("0100"),
     "--add-tag", F("new"), "--remove-tag", F("vip"), "--note", F("a note")],
    ["customer", "delete", F("3"), "--yes"],
    ["customer", "forget", F("4"), "--yes"],
    ["customer", "merge", F("5"), F("6"), "--yes"],
    ["interaction", "add", F("1"), "--type", F("purchase"), "--at", F("2024-05-01"), "--amount", F("49.90"),
     "--by", F("Joy"), "--note", F("bought")],
    ["feedback", "add", F("2"), "--type", F("complaint"), "--rating", F("2"), "--category", F("delivery"),
     "--by", F("Sam"), "--note", F("late"), "--at", F("2024-05-02")],
    ["feedback", "resolve", F(COMPLAINT), "--note", F("sorted")],
    ["followup", "add", F("7"), "--due", F("tomorrow"), "--note", F("call back"), "--by", F("Joy")],
    ["followup", "done", F(FOLLOWUP), "--note", F("done")],
    ["target", "set", F("revenue"), F("1000"), "--per", F("month")],
    ["target", "remove", F("new_customers"), "--per", F("month")],
    ["import", "undo", F(BATCH)],
    ["report", "churn", "--follow-up", F("2"), "--limit", F("5")],
]
# Import files: a valid header and rows; one cell may be made hostile (the batch record is written first,
# so a bad cell is always a failure after a write).
WRITE_FILES = {
    "customer": (["name", "email", "phone", "tags", "since", "external_id"],
                 [[F(f"Fuzz {n}"), F(f"f{n}@example.com"), F(f"0{n}00"), F("a;b"), F("2024-01-0" + str(n)),
                   F(f"EXT-{n}")] for n in range(1, 5)]),
    "interaction": (["customer_id", "type", "at", "amount", "by", "note", "external_id"],
                    [[F(str(n)), F("purchase"), F(f"2024-03-0{n}"), F(f"{n}0.50"), F("Joy"), F(f"n{n}"),
                      F(f"ORDER-{n}")] for n in range(1, 5)]),
    "feedback": (["customer_id", "type", "rating", "category", "at", "note"],
                 [[F(str(n)), F("compliment"), F(str(n + 1)), F("service"), F(f"2024-03-1{n}"), F("kind")]
                  for n in range(1, 5)]),
}


@pytest.fixture(scope="module")
def deep_template(template, tmp_path_factory):
    """The small shop, plus what the writing commands act on: an open complaint, an open
    follow-up, an import batch and a target."""
    folder = tmp_path_factory.mktemp("fuzz-deep")
    database = folder / "crm.db"
    shutil.copyfile(template, database)
    source = folder / "batch.csv"
    source.write_text("name,email\nBatch Person,batch@example.com\n", encoding="utf-8")
    for argv in (["feedback", "add", "8", "--type", "complaint", "--at", "2024-05-01"],
                 ["followup", "add", "9", "--due", "tomorrow"], ["customer", "import", str(source)],
                 ["target", "set", "new_customers", "5", "--per", "month"]):
        result = CliRunner().invoke(app, ["--db", str(database), *argv])
        assert result.exit_code == 0, (argv, result.output)
    conn = db.connect(database)
    try:
        assert conn.execute("SELECT type, resolved_at FROM feedback WHERE id = ?", (COMPLAINT,)).fetchone()[:] == (
            "complaint", None)
        assert conn.execute("SELECT done_at FROM followups WHERE id = ?", (FOLLOWUP,)).fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM import_batches WHERE id = ?", (BATCH,)).fetchone()[0] == 1
    finally:
        conn.close()
    return database


def _fields(tokens) -> list[int]:
    return [i for i, token in enumerate(tokens) if isinstance(token, Field)]


@st.composite
def one_hostile_field(draw, folder: Path):
    """A valid writing command line (or import file) with at most one field made hostile.
    Returns (argv, what was made hostile or None)."""
    hostile = draw(st.integers(0, 3)) > 0  # one in four stays valid
    if draw(st.integers(0, 3)) == 0:  # an import file
        kind = draw(st.sampled_from(sorted(WRITE_FILES)))
        header, rows = WRITE_FILES[kind]
        rows = [list(row) for row in rows]
        changed = None
        if hostile:
            r, c = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(header) - 1))
            rows[r][c] = draw(cell)
            changed = f"{kind} file row {r + 1} {header[c]}"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        source = folder / "deep.csv"
        source.write_bytes(buffer.getvalue().encode("utf-8", "surrogatepass"))
        return [kind, "import", str(source)], changed
    tokens = list(draw(st.sampled_from(WRITE_COMMANDS)))
    changed = None
    if hostile:
        index = draw(st.sampled_from(_fields(tokens)))
        tokens[index] = draw(hostile_text)
        changed = f"{' '.join(tokens[:2])} field {index}"
    argv = [str(token) for token in tokens]
    # A hostile value such as "-1" or "--help" in an argument's place: after "--" it is an argument.
    positional = [i for i in range(2, len(argv)) if not argv[i].startswith("--") and not argv[i - 1].startswith("--")]
    if changed and positional and draw(st.booleans()):
        options = [t for i, t in enumerate(argv[2:], 2) if i not in positional]
        argv = argv[:2] + options + ["--"] + [argv[i] for i in positional]
    return argv, changed


class WriteCounter:
    """Wraps db.connect so that the statements each command runs are seen: did it reach a write?"""

    def __init__(self):
        self.writes = 0

    def connect(self, real):
        def connect(path, **options):
            conn = real(path, **options)
            conn.set_trace_callback(self.trace)
            return conn

        return connect

    def trace(self, statement: str) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "REPLACE")):
            self.writes += 1


DEEP_EXAMPLES = 120


def test_valid_commands_with_one_hostile_field_reach_the_writes_and_fail_whole(deep_template, capsys):
    counts: Counter = Counter()
    counter = WriteCounter()

    @settings(max_examples=DEEP_EXAMPLES, **SETTINGS)
    @given(data=st.data())
    def one_example(data):
        with tempfile.TemporaryDirectory() as name, pytest.MonkeyPatch.context() as patch:
            folder = Path(name)
            database = folder / "crm.db"
            shutil.copyfile(deep_template, database)
            argv, changed = data.draw(one_hostile_field(folder), label="argv")
            patch.setattr(db, "connect", counter.connect(db.connect))
            before = db_dump(database)
            counter.writes = 0
            result = run(database, argv)
            after = db_dump(database)
            counts["examples"] += 1
            counts["parsed"] += result.exit_code != 2
            counts["reached a write"] += counter.writes > 0
            if result.exit_code == 0:
                counts["committed"] += after != before
                if changed is None:
                    assert counter.writes > 0 and after != before, (argv, result.stderr)  # a valid command writes
            else:
                counts["failed after a write"] += counter.writes > 0
                assert after == before, (argv, changed, result.exit_code, result.stderr)

    one_example()
    with capsys.disabled():
        print(f"\ndeep fuzz: {dict(counts)}")
    assert counts["examples"] >= DEEP_EXAMPLES * 0.9
    # Most examples get past the parser to the write; many fail after a write, and changed nothing.
    assert counts["reached a write"] > 0.5 * counts["examples"], counts
    assert counts["failed after a write"] >= 0.15 * counts["examples"], counts
    assert counts["committed"] >= 0.25 * counts["examples"], counts


KINDS = {"customer": "customers", "interaction": "interactions", "feedback": "feedback"}
import_options = st.lists(st.sampled_from([["--dry-run"], ["--skip-invalid", "--rejects", "REJECTS"],
                                           ["--delimiter", ";"], ["--delimiter", "tab"], ["--delimiter", "|"],
                                           ["--date-format", "%d/%m/%Y"], ["--create-missing"],
                                           ["--on-conflict", "update"], ["--on-conflict", "fail"]]),
                          max_size=3, unique_by=lambda option: option[0])


def run_import(template: Path, kind: str, data: bytes, options: list[list[str]]):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database = folder / "crm.db"
        shutil.copyfile(template, database)
        source = folder / "in.csv"
        source.write_bytes(data)
        argv = [kind, "import", str(source)]
        for option in options:
            if option[0] == "--create-missing" and kind == "customer":
                continue
            if option[0] == "--on-conflict" and kind != "customer":
                continue
            argv += [str(folder / "rejects.csv") if part == "REJECTS" else part for part in option]
        before = db_dump(database)
        result = run(database, argv)
        if result.exit_code != 0 or ["--dry-run"] in options:
            assert db_dump(database) == before, (argv, result.exit_code, result.stderr)
        return result


@settings(max_examples=60, **SETTINGS)
@given(kind=st.sampled_from(sorted(KINDS)), data=st.binary(max_size=600), options=import_options)
def test_any_bytes_as_an_import_file_exit_cleanly(template, kind, data, options):
    run_import(template, kind, data, options)


cell = st.sampled_from(HOSTILE + ["c3@example.com", "3", "C3", "call", "purchase", "refund", "compliment",
                                  "2024-01-02", "02/01/2024", "5", "4", '"', '""', "a\nb", "\x00"]) \
    | st.text(max_size=8)


@st.composite
def csv_files(draw, kind: str):
    """Rows of random and hostile cells under a header of the kind's real columns (shuffled,
    sometimes one unknown column or a row of the wrong width)."""
    columns = list(imports.COLUMNS[KINDS[kind]])
    header = draw(st.lists(st.sampled_from(columns), min_size=1, max_size=len(columns), unique=True))
    for required in imports.REQUIRED[KINDS[kind]]:
        if required not in header:
            header.append(required)
    if kind != "customer" and not set(header) & set(imports.CUSTOMER_KEYS):
        header.append(draw(st.sampled_from(imports.CUSTOMER_KEYS)))
    header = draw(st.permutations(header))
    if draw(st.integers(0, 9)) == 0:
        header.append(draw(st.sampled_from(["error", "colour", ""])))
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=8))
    if rows and draw(st.integers(0, 9)) == 0:
        rows[-1] = rows[-1][:-1]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])), "surrogatepass")


@settings(max_examples=90, **SETTINGS)
@given(data=st.data(), kind=st.sampled_from(sorted(KINDS)), options=import_options)
def test_random_rows_under_a_valid_header_import_cleanly(template, data, kind, options):
    result = run_import(template, kind, data.draw(csv_files(kind), label="file"), options)
    if result.exit_code == 1:
        assert result.stderr.startswith("crm: error: "), result.stderr


# --- every number option at its extremes: deterministic, so a regression is found on every run ------

INT_EXTREMES = ["99999999999999999999999999", "-99999999999999999999999999", str(2**63), str(2**63 - 1), "-1", "0"]
FLOAT_EXTREMES = ["inf", "-inf", "nan", "1e308", "-1e308", "-0.5"]
# What else a command needs to get as far as using the number.
NEEDS = {("customer", "show"): ["1"], ("interaction", "add"): ["1", "--type", "call"],
         ("feedback", "add"): ["1", "--type", "complaint"], ("followup", "add"): ["1"],
         ("target", "set"): ["revenue", "5"]}
def _numeric_cases():
    for path, command in COMMANDS:
        if path == ("demo",):
            continue
        for param in command.params:
            annotation = param.type_descriptor.annotation
            extremes = INT_EXTREMES if annotation is int else FLOAT_EXTREMES if annotation is float else ()
            for value in extremes:
                option = param.opts[0] if param.param_type_name == "option" else None
                yield pytest.param(path, option, value, id=f"{' '.join(path)} {option or param.name}={value}")


@pytest.mark.parametrize("path, option, value", list(_numeric_cases()))
def test_every_number_option_at_its_extremes_exits_cleanly(template, tmp_path, path, option, value):
    database = tmp_path / "crm.db"
    shutil.copyfile(template, database)
    argv = [*path, option, value, *NEEDS.get(path, [])] if option else [*path, "--", value]
    before = db_dump(database)
    result = run(database, argv)
    if result.exit_code != 0:
        assert db_dump(database) == before
