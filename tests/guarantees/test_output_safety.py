"""Output safety (issue #5): what crm writes cannot be turned against the person reading it.

* Spreadsheets: every CSV and TSV crm writes (every `--format csv`/`tsv` of every command, `crm export`,
  the rejects file of an import) neutralises a text cell that a spreadsheet would run as a formula
  (OWASP "CSV injection": a cell starting with = @ tab or CR, or with + or - unless it is a plain number
  or a phone number, gets a leading apostrophe; helpers.spreadsheet_would_run states the rule), while
  numbers, negative ones included, stay numbers and phone numbers stay as typed.
* Terminals: stored text reaches a table, an error message or a remark on stderr with its
  control characters escaped (\\x1b[2J is shown, not executed); emoji and every script are shown.

The list of commands is taken from the Typer app itself, so a new command with a --format
option is checked too, or this test fails until it is given its arguments here.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from helpers import command_tree, freeze, spreadsheet_would_run

from crmcli import customers, db, feedback, followups, interactions, output

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")

# Text a spreadsheet would run, and text a terminal would act on, in every field that can hold text.
FORMULA = '=HYPERLINK("http://evil.example","x")'
# C0 (ESC sequences, BEL, backspace), C1 (0x9b is a one-byte CSI), bidi overrides and isolates
# (U+202E, U+2066) and zero-width characters (U+200B, U+FEFF): each makes a terminal act or
# hide, and each must reach it escaped.
ESCAPES = ("\x1b[2J\x1b]8;;http://evil.example\x07link\x1b]8;;\x07\x1b[31m\x08"
           "\x9b2J\u202eevil\u2066iso\u200bzw\ufeff")
# Each raw character of ESCAPES that must never reach a terminal, with how it is shown instead.
RAW_SHOWN = {"\x1b": "\\x1b[2J", "\x07": "\\x07", "\x08": "\\x08", "\x9b": "\\x9b2J",
             "\u202e": "\\u202eevil", "\u2066": "\\u2066iso", "\u200b": "\\u200bzw", "\ufeff": "\\ufeff"}




def has_option(command, option: str) -> bool:
    return any(option in param.opts for param in command.params)


# The arguments each command needs to show the hostile shop's rows.
ARGUMENTS = {
    ("customer", "show"): ["1"],
    ("customer", "history"): ["1"],
    ("report", "summary"): ["--as-of", "2024-06-15", "--period", "month"],
    ("report", "best"): ["--as-of", "2024-06-15", "--limit", "0"],
    ("report", "churn"): ["--as-of", "2024-06-15", "--limit", "0"],
    ("report", "segments"): ["--as-of", "2024-06-15"],
    ("report", "model"): ["--as-of", "2024-06-15"],
    ("report", "staff"): ["--until", "2024-06-15"],
    ("target", "list"): ["--as-of", "2024-06-15"],
}
# Commands whose rows carry the shop's stored text: their output must show the hostile text.
SHOWS_STORED_TEXT = {("customer", "list"), ("customer", "show"), ("customer", "history"), ("customer", "duplicates"),
                     ("interaction", "list"), ("feedback", "list"), ("followup", "list"), ("agenda",),
                     ("report", "best"), ("report", "churn"), ("report", "staff"), ("import", "list")}
# `crm export` has its own formats (csv, tsv, jsonl) and is checked on its own below; an import's --format
# is the format of the file it reads.
FORMAT_COMMANDS = [path for path, command in command_tree() if has_option(command, "--format")
                   and path != ("export",) and path[-1] != "import"]


@pytest.fixture
def hostile_shop(conn, monkeypatch, tmp_path, crm):
    """A shop whose every text field starts with a formula or carries escape sequences."""
    freeze(monkeypatch)
    with db.transaction(conn):
        eve = customers.add(conn, f"{FORMULA} {ESCAPES}", email="=cmd@evil.example", phone="+1 555 0100",
                            company="@SUM(A1:A9)", note=f"-2+3 {ESCAPES}", external_id="=1+1", tags=["vip"],
                            since="2023-01-01")
        twin = customers.add(conn, f"{FORMULA} {ESCAPES}", email="=cmd2@evil.example", phone="+1 555 0100")
        for n, day in enumerate(("2023-02-01", "2023-05-01", "2023-09-01", "2024-01-10", "2024-05-20")):
            interactions.add(conn, eve, "purchase", at=day, amount="40", by=f"+{ESCAPES}", note=f"={n}+1")
        interactions.add(conn, twin, "refund", at="2024-02-01", amount="5", by="@staff", note="\ttab first")
        feedback.add(conn, eve, "complaint", at="2024-06-01", category=f"-{ESCAPES}", by=f"+{ESCAPES}",
                     note=f"\r{ESCAPES}", rating="1")
        followups.add(conn, eve, due="2024-06-15", by=f"={ESCAPES}", note=f"@{ESCAPES}")
    # an import batch whose source is a formula (as the file was named on the command line)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "=evil.csv").write_text("name\n-Imported\n", encoding="utf-8")
    assert crm("customer", "import", "=evil.csv").exit_code == 0
    monkeypatch.setattr("crmcli.cli.views.customer_scores", lambda conn, customer_id: None)
    return conn


def unsafe_cells(text: str, delimiter: str = ",") -> list[str]:
    """Cells a spreadsheet would run as a formula: a trigger first, and not a plain number."""
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    return [cell for row in rows for cell in row if spreadsheet_would_run(cell) and not NUMBER.match(cell)]


def tsv_rows(text: str) -> list[list[str]]:
    """A TSV as crm writes it: one line a row, cells split at tabs (escapes left as they are)."""
    assert text.endswith("\n") and "\r" not in text
    return [line.split("\t") for line in text[:-1].split("\n")]


def test_every_command_with_a_format_option_is_checked():
    assert len(FORMAT_COMMANDS) >= 15, FORMAT_COMMANDS
    assert set(SHOWS_STORED_TEXT) <= set(FORMAT_COMMANDS)


@pytest.mark.parametrize("path", FORMAT_COMMANDS, ids=" ".join)
def test_every_csv_output_neutralises_formulas(crm, hostile_shop, path, tmp_path):
    result = crm(*path, *ARGUMENTS.get(path, []), "--format", "csv")
    assert result.exit_code in (0, 4), (result.exit_code, result.stderr)
    assert unsafe_cells(result.stdout) == []
    if path in SHOWS_STORED_TEXT:
        assert "'" in result.stdout and ("'=" in result.stdout or "'+" in result.stdout or "'@" in result.stdout)
    # the same through --output FILE
    target = tmp_path / "out.csv"
    assert crm(*path, *ARGUMENTS.get(path, []), "--format", "csv", "--output", target).exit_code in (0, 4)
    assert unsafe_cells(target.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", FORMAT_COMMANDS, ids=" ".join)
def test_every_tsv_output_neutralises_formulas_and_keeps_a_row_a_line(crm, hostile_shop, path):
    result = crm(*path, *ARGUMENTS.get(path, []), "--format", "tsv")
    assert result.exit_code in (0, 4), (result.exit_code, result.stderr)
    rows = tsv_rows(result.stdout)
    assert len({len(row) for row in rows}) == 1, rows  # the stored tabs and line breaks broke no row
    assert [cell for row in rows for cell in row if spreadsheet_would_run(cell) and not NUMBER.match(cell)] == []
    if path in SHOWS_STORED_TEXT:
        assert "'" in result.stdout


def test_phone_numbers_negative_amounts_and_dates_pass_unchanged(crm, conn):
    """What cannot be a formula is written as it is: a phone number, a negative amount, an ISO date."""
    with db.transaction(conn):
        first = customers.add(conn, "Maria", phone="+63 917 555 0101", since="2024-01-02")
        second = customers.add(conn, "Joe", phone="+1 (555) 010-0101", note="-12.50")
        customers.add(conn, "Eve", phone="+1+1", note="-2+3", company="+A1")
        interactions.add(conn, first, "refund", at="2024-02-01", amount="5")
        interactions.add(conn, second, "call", at="2024-02-01", note="-cmd|' /C calc'!A0")
    for fmt in ("csv", "tsv"):
        text = crm("customer", "list", "--format", fmt).stdout
        assert "+63 917 555 0101" in text and "'+63" not in text
        assert "+1 (555) 010-0101" in text and "2024-01-02" in text and "-5.00" in text
        assert "'+1+1" in text and "'+A1" in text
        assert "'-cmd|' /C calc'!A0" in crm("interaction", "list", "--format", fmt).stdout
    exported = crm("export", "customers").stdout
    assert "+63 917 555 0101" in exported and "-12.50" in exported and "'-2+3" in exported


def test_negative_numbers_stay_numbers(crm, hostile_shop):
    """The refund-only customer's revenue is -5.00: a number, not text with an apostrophe."""
    rows = list(csv.DictReader(io.StringIO(crm("customer", "list", "--format", "csv").stdout)))
    revenue = {row["customer_id"] if "customer_id" in row else row["id"]: row["revenue"] for row in rows}
    assert revenue["2"] == "-5.00"


@pytest.mark.parametrize("what", ["customers", "interactions", "feedback"])
def test_every_export_neutralises_formulas(crm, hostile_shop, what):
    result = crm("export", what)
    assert result.exit_code == 0, result.stderr
    assert unsafe_cells(result.stdout) == []
    assert "'=" in result.stdout or "'+" in result.stdout or "'-" in result.stdout or "'@" in result.stdout


@pytest.mark.parametrize("kind, header, row", [
    ("customer", "name,email,note", '=HYPERLINK("http://evil"),not-an-email,-2+3'),
    ("interaction", "customer_id,type,at,amount,by,note", "999,purchase,2024-01-01,5,@staff,+cmd"),
    ("feedback", "customer_id,type,at,category,note", "999,complaint,2024-01-01,=cat,\tnote"),
])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_the_rejects_file_neutralises_formulas(crm, conn, tmp_path, kind, header, row, delimiter):
    path = tmp_path / "in.csv"
    path.write_text(f"{header}\n{row}\n".replace(",", delimiter), encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    result = crm(kind, "import", path, "--skip-invalid", "--rejects", rejects)
    assert result.exit_code == 0, result.stderr
    written = rejects.read_text(encoding="utf-8")
    assert unsafe_cells(written, delimiter) == []
    assert "'" in written


def test_csv_cell_neutralises_each_trigger_and_leaves_numbers():
    for trigger in TRIGGERS:
        assert output.csv_cell(f"{trigger}A1") == f"'{trigger}A1"
        assert output.csv_cell(f"{trigger}1+1") == f"'{trigger}1+1"
    assert output.csv_cell(-5) == -5 and output.csv_cell(-2.5) == -2.5
    assert output.csv_cell("-5") == "-5" and output.csv_cell("+1 555 010 0101") == "+1 555 010 0101"
    # An apostrophe first is safe; one that looks like crm's own escape gets one more, so import gives it back.
    assert output.csv_cell("'=already") == "''=already"
    assert output.csv_cell("'plain") == "'plain"
    assert output.csv_cell(["=a", "b"]) == "'=a;b" and output.csv_cell({"=k": 1}) == "'=k=1"


# --- terminals ------------------------------------------------------------------------------------------

RAW_SEQUENCES = tuple(RAW_SHOWN)
TABLE_COMMANDS = FORMAT_COMMANDS


def test_the_hostile_text_carries_every_kind_of_character_a_terminal_acts_on():
    """The fixture itself: C0, C1, bidi and zero-width, or the tests below could not fail."""
    import unicodedata

    categories = {unicodedata.category(ch) for ch in ESCAPES if not ch.isprintable()}
    assert {"Cc", "Cf"} <= categories
    assert any(0x80 <= ord(ch) < 0xA0 for ch in ESCAPES)  # C1
    assert any(unicodedata.bidirectional(ch) in ("RLO", "LRO", "LRI", "RLI", "FSI") for ch in ESCAPES)
    assert "\u200b" in ESCAPES and set(RAW_SHOWN) == {ch for ch in ESCAPES if not ch.isprintable()}


@pytest.mark.parametrize("path", TABLE_COMMANDS, ids=" ".join)
def test_tables_show_stored_escape_sequences_escaped(crm, hostile_shop, path):
    result = crm(*path, *ARGUMENTS.get(path, []), "--format", "table")
    assert result.exit_code in (0, 4), (result.exit_code, result.stderr)
    for raw in RAW_SEQUENCES:
        assert raw not in result.stdout and raw not in result.stderr, (path, raw)
    if path in SHOWS_STORED_TEXT - {("import", "list")}:  # a batch's source is a file name, not stored text
        for shown in RAW_SHOWN.values():
            assert shown in result.stdout, (path, shown)


def test_on_a_colour_terminal_only_rich_styles_reach_it(monkeypatch):
    """With colour on, rich adds its own ESC sequences; none of the data's get through."""
    rows = [{"name": "Eve " + ESCAPES, "note": "ok \x9b2J \u202eevil"}]
    stream = io.StringIO()
    output.write_table(rows, output.columns("name", "note"), stream, title="T " + ESCAPES, is_terminal=True)
    shown = stream.getvalue()
    assert "\x1b[" in shown  # the control: rich does style a terminal
    for raw in ("\x1b[2J", "\x1b]8", "\x1b[31m", "\x07", "\x9b", "\u202e"):
        assert raw not in shown, raw
    assert "\\x1b[2J" in shown and "\\x9b2J" in shown and "\\u202eevil" in shown


def test_messages_on_stderr_escape_stored_text(crm, conn):
    with db.transaction(conn):
        customers.add(conn, f"Eve {ESCAPES}", email="eve@example.com")
    taken = crm("customer", "add", "Other", "--email", "eve@example.com")  # names the owner of the email
    edited = crm("customer", "edit", "1", "--phone", "1")  # "updated customer 1 (NAME)" on stderr
    assert taken.exit_code == 1 and edited.exit_code == 0
    for message in (taken.stderr, edited.stderr):
        assert "Eve \\x1b[2J" in message
        for raw, shown in RAW_SHOWN.items():
            assert raw not in message and shown in message, (raw, message)


def test_output_to_a_device_or_pipe_writes_to_it_and_never_replaces_it(crm, conn, tmp_path):
    """`--output /dev/null` is a common idiom; renaming a temporary file onto it (as for a real
    file) would replace the device with a plain file, which root is allowed to do."""
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")), daemon=True)
    reader.start()
    with db.transaction(conn):
        customers.add(conn, "=Ann")
    result = crm("customer", "list", "--format", "csv", "--output", fifo)
    reader.join(10)
    assert result.exit_code == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still a pipe, not replaced by a file
    assert "'=Ann" in received[0]
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
