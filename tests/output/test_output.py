"""The one renderer: CSV (RFC 4180, formula-safe), JSON, JSONL, tables, and atomic --output files."""

import csv
import io
import json
import os
import stat
from datetime import date, datetime
from decimal import Decimal

import pytest
from helpers import freeze

from crmcli import customers, db, interactions, output
from crmcli.errors import CrmError, InvalidInput

COLS = output.columns("id", "name", "amount", "day", "tags", "note", numeric=("id", "amount"))


def csv_text(rows, cols=COLS):
    return output.render_to_string(rows, cols, "csv")


def parse_csv(text):
    return list(csv.reader(io.StringIO(text, newline="")))


# --- CSV -------------------------------------------------------------------------------------------------

def test_csv_quotes_as_rfc_4180_and_ends_lines_with_lf():
    rows = [{"id": 1, "name": 'Lee, "Ann"', "amount": Decimal("1234.50"), "day": date(2024, 5, 1),
             "tags": ["a", "b"], "note": "line one\nline two\r\nthree"}]
    text = csv_text(rows)
    assert text == (
        'id,name,amount,day,tags,note\n'
        '1,"Lee, ""Ann""",1234.50,2024-05-01,a;b,"line one\nline two\r\nthree"\n'
    )
    assert parse_csv(text)[1] == ["1", 'Lee, "Ann"', "1234.50", "2024-05-01", "a;b", "line one\nline two\r\nthree"]


def test_csv_ends_lines_with_crlf_when_asked(monkeypatch):
    monkeypatch.setattr("crmcli.transfer.csvcells._line_end", {"value": "\n"})
    output.set_crlf(True)
    assert csv_text([{"id": 1, "name": "a\nb"}]) == 'id,name,amount,day,tags,note\r\n1,"a\nb",,,,\r\n'
    output.set_crlf(False)
    assert csv_text([]) == "id,name,amount,day,tags,note\n"


@pytest.mark.parametrize("crlf", [False, True])
def test_csv_quotes_a_bare_carriage_return_whatever_the_line_end(monkeypatch, crlf):
    """csv quotes only for its own line terminator's characters: with LF alone a bare CR would go out
    unquoted and break the row for every reader."""
    monkeypatch.setattr("crmcli.transfer.csvcells._line_end", {"value": "\n"})
    output.set_crlf(crlf)
    rows = [{"id": 1, "name": "cr\rhere", "note": "lf\nhere\r\nand crlf"}, {"id": 2, "name": "\r"}]
    text = csv_text(rows)
    assert '"cr\rhere"' in text and text.endswith("\r\n" if crlf else ",\n")
    assert [row[:2] for row in parse_csv(text)[1:]] == [["1", "cr\rhere"], ["2", "'\r"]]  # a CR first: neutralised
    assert parse_csv(text)[1][5] == "lf\nhere\r\nand crlf"


def test_csv_has_a_header_row_also_for_zero_rows():
    assert csv_text([]) == "id,name,amount,day,tags,note\n"


def test_csv_values_are_raw():
    rows = [{"id": 7, "name": "Big", "amount": Decimal(123456789).scaleb(-2), "day": datetime(2024, 5, 1, 9, 30),
             "tags": [], "note": None}]
    [_, row] = parse_csv(csv_text(rows))
    assert row == ["7", "Big", "1234567.89", "2024-05-01T09:30:00", "", ""]  # no $, no 1,234,567.89


@pytest.mark.parametrize("trigger", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_neutralises_formula_triggers_at_the_start_of_text(trigger):
    value = f"{trigger}HYPERLINK(\"http://evil\")"
    [_, row] = parse_csv(csv_text([{"name": value, "note": f"ok {trigger} inside"}]))
    assert row[1] == "'" + value
    assert row[5] == f"ok {trigger} inside"  # only the first character matters


def test_csv_leaves_negative_numbers_alone():
    rows = [{"id": -5, "amount": Decimal("-10.00"), "name": "-5"}]
    [_, row] = parse_csv(csv_text(rows))
    assert row[0] == "-5"
    assert row[2] == "-10.00"
    assert row[1] == "-5"  # text that is a plain number cannot be a formula: as it is


# --- JSON and JSONL ----------------------------------------------------------------------------------------

ROWS = [
    {"id": 1, "name": "Nguyễn Văn An", "amount": Decimal("1234.50"), "day": date(2024, 5, 1), "tags": ["vip"],
     "note": "a\nb \"q\""},
    {"id": 2, "name": "=cmd", "amount": None, "day": None, "tags": [], "note": "\x1b[31m"},
]


def test_json_is_one_array_that_parses_back():
    text = output.render_to_string(ROWS, COLS, "json")
    assert json.loads(text) == [
        {"id": 1, "name": "Nguyễn Văn An", "amount": 1234.5, "day": "2024-05-01", "tags": ["vip"],
         "note": "a\nb \"q\""},
        {"id": 2, "name": "=cmd", "amount": None, "day": None, "tags": [], "note": "\x1b[31m"},
    ]
    assert "Nguyễn" in text  # readable, not \\u escapes
    assert json.loads(output.render_to_string([], COLS, "json")) == []


def test_jsonl_is_one_object_a_line():
    text = output.render_to_string(ROWS, COLS, "jsonl")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 3
    assert [json.loads(line) for line in lines[:-1]] == json.loads(output.render_to_string(ROWS, COLS, "json"))
    assert output.render_to_string([], COLS, "jsonl") == ""


# --- format choice ---------------------------------------------------------------------------------------

class Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("fmt, out, tty, chosen", [
    (None, None, True, "table"),
    (None, None, False, "csv"),
    ("json", None, True, "json"),
    (None, "r.json", True, "json"),
    (None, "r.JSONL", False, "jsonl"),
    (None, "r.csv", True, "csv"),
    (None, "report.txt", True, "csv"),
    ("jsonl", "r.json", False, "jsonl"),  # --format wins over the extension
    ("table", "r.csv", False, "table"),
])
def test_format_choice(fmt, out, tty, chosen):
    assert output.choose_format(fmt, out, Stream(tty)) == chosen


def test_unknown_format_is_an_error():
    with pytest.raises(InvalidInput, match="format: must be one of table, csv, tsv, json, jsonl"):
        output.choose_format("xml", None)


# --- tables --------------------------------------------------------------------------------------------------

def table(rows, cols=COLS, *, tty=False, title=None):
    stream = Stream(tty)
    output.write_table(rows, cols, stream, title=title, is_terminal=tty)
    return stream.getvalue()


def test_a_piped_table_neither_wraps_nor_truncates():
    note = "word " * 59 + "end.!"  # 300 characters
    assert len(note) == 300
    text = table([{"id": 1, "name": "Ann", "note": note}])
    assert any(note in line for line in text.splitlines())
    assert "…" not in text


def test_no_escape_codes_when_not_a_terminal():
    assert "\x1b" not in table([{"id": 1, "name": "Ann"}], title="Customers")


def test_no_escape_codes_on_a_terminal_with_no_color(monkeypatch):
    with_colour = table([{"id": 1, "name": "Ann"}], tty=True, title="Customers")
    assert "\x1b[" in with_colour  # the control: styles are used on a terminal...
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in table([{"id": 1, "name": "Ann"}], tty=True, title="Customers")  # ...not with NO_COLOR


@pytest.mark.parametrize("tty", [False, True])
def test_control_characters_in_data_are_shown_escaped(tty, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    text = table([{"name": "Ann\x07", "note": "\x1b[31mred\x1b[0m and\ttab"}], tty=tty, title="T\x1b]0;pwned\x07")
    assert "\x1b" not in text and "\x07" not in text and "\t" not in text
    assert "\\x1b[31mred\\x1b[0m and\\x09tab" in text
    assert "Ann\\x07" in text
    assert "T\\x1b]0;pwned\\x07" in text


@pytest.mark.parametrize("markup", ["[bold]x[/bold]", "[/bold] closing first", "[red]", "[link=http://e]e[/link]"])
def test_rich_markup_in_data_and_titles_is_shown_literally(markup):
    text = table([{"id": 1, "name": markup}], title=markup)
    lines = text.splitlines()
    assert markup in lines[0]  # the title
    assert any(markup in line for line in lines[1:])  # the cell


def test_table_shows_amounts_with_two_decimals():
    text = table([{"id": 1, "amount": Decimal("1234.50")}, {"id": 2, "amount": Decimal("0.00")}])
    assert "1234.50" in text and "0.00" in text


# --- --output: atomic files ----------------------------------------------------------------------------------

def test_output_file_is_written_whole_with_no_temporary_left(tmp_path):
    target = tmp_path / "out.csv"
    assert output.render(ROWS, COLS, output=target) == "csv"
    with open(target, encoding="utf-8", newline="") as handle:
        assert parse_csv(handle.read())[1][1] == "Nguyễn Văn An"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_output_replaces_an_existing_file_keeping_its_permissions(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    target.chmod(0o640)
    assert output.render(ROWS, COLS, output=target) == "json"
    assert len(json.loads(target.read_text(encoding="utf-8"))) == 2
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["out.json"]


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table"])
def test_a_write_that_fails_half_way_leaves_the_old_file_intact(tmp_path, fmt):
    target = tmp_path / "report.out"
    target.write_text("the old report\n")

    def rows():
        yield ROWS[0]
        raise RuntimeError("the disk caught fire")

    with pytest.raises(RuntimeError, match="disk caught fire"):
        output.render(rows(), COLS, fmt=fmt, output=target)
    assert target.read_text() == "the old report\n"
    assert os.listdir(tmp_path) == ["report.out"]


def test_an_os_error_while_writing_is_a_user_error_and_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def disk_full(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CrmError, match="output: cannot write to .*out.csv.*No space left on device"):
        output.render(ROWS, COLS, output=target)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_a_failed_first_write_leaves_no_file(tmp_path):
    target = tmp_path / "new.csv"

    def rows():
        raise RuntimeError("boom")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError):
        output.render(rows(), COLS, output=target)
    assert os.listdir(tmp_path) == []


def test_output_to_a_directory_is_refused(tmp_path):
    with pytest.raises(InvalidInput, match="output: is a directory"):
        output.render(ROWS, COLS, output=tmp_path)


# --- through the CLI (CliRunner's stdout is not a terminal) ---------------------------------------------------

@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch)
    with db.transaction(conn):
        ann = customers.add(conn, "Ann, \"the\" =Boss", email="ann@example.com", tags=["vip", "local"])
        bob = customers.add(conn, "Bob")
        interactions.add(conn, ann, "purchase", at="2024-05-01T10:00", amount="1234.5")
        interactions.add(conn, bob, "purchase", at="2024-05-02", amount="5")
        interactions.add(conn, bob, "refund", at="2024-05-03", amount="15")
        interactions.add(conn, ann, "call", at="2024-05-04", note="\x1b[31mred\x07 " + "x" * 300)
    return ann, bob


def test_cli_defaults_to_csv_when_not_a_terminal(crm, shop):
    result = crm("customer", "list")
    assert result.exit_code == 0, result.stderr
    text = result.stdout_bytes.decode()
    assert text.startswith("id,name,email,phone,company,tags,since,purchases,revenue,last_purchase,open_complaints,"
                           "purchase_records\n")
    rows = parse_csv(text)
    assert rows[1] == ["1", 'Ann, "the" =Boss', "ann@example.com", "", "", "local;vip",
                       "2024-06-15", "1", "1234.50", "2024-05-01", "0", "1"]
    assert rows[2][8] == "-10.00"  # a negative revenue is a number: no apostrophe


def test_cli_csv_neutralises_formulas_in_stored_text(crm, conn):
    with db.transaction(conn):
        customers.add(conn, "=SUM(A1:A9)", company="@Acme", phone="+84 90")
        customers.add(conn, "-cmd|' /C calc'!A0", company="-2+3", phone="+84 90 123 4567")
    rows = parse_csv(crm("customer", "list", "--format", "csv").stdout_bytes.decode())
    assert rows[1][1:5] == ["'=SUM(A1:A9)", "", "'+84 90", "'@Acme"]  # 4 digits: not a phone number
    assert rows[2][1:5] == ["'-cmd|' /C calc'!A0", "", "+84 90 123 4567", "'-2+3"]  # a phone number as it is
    assert json.loads(crm("customer", "list", "--format", "json").stdout)[0]["name"] == "=SUM(A1:A9)"  # JSON is raw


def test_cli_json_and_jsonl_parse_back_to_the_same_rows(crm, shop):
    as_json = json.loads(crm("customer", "list", "--format", "json").stdout)
    lines = crm("customer", "list", "--format", "jsonl").stdout.split("\n")
    assert lines[-1] == ""
    assert [json.loads(line) for line in lines[:-1]] == as_json
    assert as_json[0]["name"] == 'Ann, "the" =Boss' and as_json[0]["tags"] == ["local", "vip"]
    assert as_json[0]["revenue"] == 1234.5 and as_json[1]["revenue"] == -10.0
    assert isinstance(as_json, list) and len(as_json) == 2


def test_cli_output_file_format_follows_the_extension(crm, shop, tmp_path):
    for name, parse in (("c.json", json.loads), ("c.jsonl", lambda t: [json.loads(x) for x in t.splitlines()]),
                        ("c.csv", parse_csv)):
        result = crm("customer", "list", "--output", tmp_path / name)
        assert result.exit_code == 0 and result.stdout == "", result.stderr
        parsed = parse((tmp_path / name).read_text(encoding="utf-8"))
        assert len(parsed) == (3 if name.endswith("csv") else 2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".c", "c."))) == [
        "c.csv", "c.json", "c.jsonl"]


def test_cli_table_piped_keeps_long_notes_whole_and_escapes_control_characters(crm, shop):
    result = crm("interaction", "list", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    whole = "\\x1b[31mred\\x07 " + "x" * 300
    assert any(whole in line for line in result.stdout.splitlines())


def test_cli_table_shows_markup_in_names_literally(crm, conn):
    with db.transaction(conn):
        customers.add(conn, "[bold]x[/bold]")
        customers.add(conn, "[/red] stray")
    result = crm("customer", "list", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "[bold]x[/bold]" in result.stdout and "[/red] stray" in result.stdout


def test_cli_no_color_and_not_a_terminal_give_no_escape_codes(crm, shop, monkeypatch):
    for env in ({}, {"NO_COLOR": "1"}):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        for command in (("customer", "list", "--format", "table"), ("info", "--format", "table"),
                        ("interaction", "list", "--format", "table")):
            result = crm(*command)
            assert result.exit_code == 0, result.stderr
            assert "\x1b" not in result.stdout
