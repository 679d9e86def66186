"""The command line itself (issue 13): one style for every usage error, choices in any case, global
options on either side of the subcommand, bare `crm` is help, placeholders in words, completion."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from helpers import assert_error, command_tree, freeze

from crmcli import customers, db, interactions
from crmcli.cli import commandline


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


@pytest.fixture
def shop(conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", email="ann@example.com")
        interactions.add(conn, ann, "purchase", at="2024-05-01", amount="10")
    return conn


BOX = re.compile("[╭╮╰╯│─]")

USAGE_ERRORS = [
    (["customer", "show"], "missing argument REF", "crm customer show"),
    (["customer", "add", "Zed", "--colour", "red"], "no such option: --colour", "crm customer add"),
    (["interaction", "add", "1", "--type", "teleport"],
     "--type: 'teleport' is not one of purchase, refund, call, email, meeting, visit, support, other",
     "crm interaction add"),
    (["report", "best", "--format", "xml"], "--format: 'xml' is not one of table, csv, tsv, json, jsonl",
     "crm report best"),
    (["customer", "list", "--limit", "many"], "--limit: ", "crm customer list"),
    (["teleport"], "no such command 'teleport'", "crm"),
    (["report", "teleport"], "no such command 'teleport'", "crm report"),
    (["report", "best", "--limit"], "option '--limit' requires an argument", "crm report best"),
    (["--db"], "option '--db' requires an argument", "crm"),
]


@pytest.mark.parametrize("args, message, command", USAGE_ERRORS, ids=[" ".join(e[0]) for e in USAGE_ERRORS])
def test_every_usage_error_has_one_style(crm, shop, isolated_database, args, message, command):
    result = crm(*args)
    assert_error(result, 2, f"crm: error: {message}", f"Try '{command} --help'.")
    assert result.stderr.startswith("crm: error: ")
    assert len(result.stderr.strip().split("\n")) == 2
    assert not BOX.search(result.stderr) and "Value error" not in result.stderr and "Usage:" not in result.stderr


def test_choices_ignore_case(crm, shop):
    assert crm("interaction", "add", "1", "--type", "Purchase", "--amount", "5").exit_code == 0
    rows = list(csv.DictReader(io.StringIO(crm("interaction", "list", "--type", "PURCHASE").stdout, newline="")))
    assert [row["type"] for row in rows] == ["purchase", "purchase"]
    assert crm("customer", "list", "--format", "CSV").stdout.startswith("id,name,")
    assert crm("customer", "list", "--format", "Json").stdout.startswith("[")


def test_global_options_before_or_after_the_subcommand(crm, shop, tmp_path):
    other = tmp_path / "other.db"
    assert crm("--db", other, "customer", "add", "Before").stdout == "1\n"
    assert crm("customer", "add", "After", "--db", other).stdout == "2\n"
    assert crm("customer", "add", f"--db={other}", "Equals").stdout == "3\n"
    names = lambda *args: [r["name"] for r in csv.DictReader(io.StringIO(crm(*args).stdout))]  # noqa: E731
    assert names("customer", "list", "--db", other) == ["Before", "After", "Equals"]
    assert names("--db", other, "customer", "list") == ["Before", "After", "Equals"]
    assert names("customer", "list") == ["Ann Lee"]  # CRM_DB's database was left alone
    assert crm("customer", "list", "--quiet", "--crlf").stdout_bytes.endswith(b"\r\n")  # .stdout would hide it


def test_a_global_option_as_the_value_of_another_option_stays_a_value(crm, shop):
    assert crm("customer", "add", "Zed", "--note", "--quiet").exit_code == 0
    assert crm("customer", "add", "--", "--db").exit_code == 0
    rows = [json.loads(line) for line in crm("export", "customers", "--format", "jsonl").stdout.splitlines()]
    assert [(r["name"], r["note"]) for r in rows[1:]] == [("Zed", "--quiet"), ("--db", None)]


def test_format_before_the_subcommand_applies_to_it(crm, shop):
    assert crm("--format", "json", "customer", "list").stdout.startswith("[")
    assert crm("customer", "--format", "jsonl", "list").stdout.startswith('{"id": 1')
    assert crm("-f", "tsv", "report", "segments", "--as-of", "2024-06-15").stdout.startswith("segment\t")


def test_the_arguments_are_arranged_without_looking_at_values():
    from typer.main import get_command

    from crmcli.cli import app

    root = get_command(app)
    arrange = lambda *args: commandline.arrange(root, list(args))  # noqa: E731
    assert arrange("report", "best", "--db", "x.db", "-q") == ["--db", "x.db", "-q", "report", "best"]
    assert arrange("--format", "csv", "report", "best") == ["report", "best", "--format", "csv"]
    assert arrange("customer", "add", "--note", "--db", "x") == ["customer", "add", "--note", "--db", "x"]
    assert arrange("customer", "add", "--", "--quiet") == ["customer", "add", "--", "--quiet"]


@pytest.mark.parametrize("args", [[], ["report"], ["customer"]], ids=lambda a: " ".join(["crm", *a]))
def test_a_bare_command_prints_its_help_and_succeeds(crm, args):
    result = crm(*args)
    assert result.exit_code == 0, result.stderr
    assert "Usage: crm" in result.stdout and "Commands" in result.stdout
    assert result.stdout.count("Usage: crm") == 1  # once: Typer's rich help prints itself
    assert result.stderr == ""


HELP = [(path, command) for path, command in command_tree()]


@pytest.mark.parametrize("path", [p for p, _ in HELP] + [(), ("report",)], ids=lambda p: " ".join(["crm", *p]))
def test_help_placeholders_read_as_words(crm, path):
    result = crm(*path, "--help")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "<" not in text and ">" not in text, text
    assert not re.search(r"\{\w+\}", text), text  # Typer's {REF} in the usage line
    assert not re.search(r"\b(INTEGER|FLOAT|BOOLEAN|TEXT_OR_PATH)\b|list\[", text), text


def test_help_names_the_placeholders_people_know(crm):
    assert re.search(r"--at\s+DATE", crm("interaction", "add", "--help").stdout)
    assert re.search(r"--limit\s+-n\s+N\b", crm("customer", "list", "--help").stdout)
    assert re.search(r"--output\s+-o\s+FILE", crm("report", "best", "--help").stdout)
    assert re.search(r"Usage: crm customer show \[OPTIONS\] REF", crm("customer", "show", "--help").stdout)


def test_completion_is_offered_and_completes_commands_and_choices(crm):
    assert "--install-completion" in crm("--help").stdout
    script = crm("--show-completion", "bash")
    assert script.exit_code == 0 and "_CRM_COMPLETE" in script.stdout, (script.output, script.exception)
    env = {**os.environ, "_CRM_COMPLETE": "complete_bash", "COMP_WORDS": "crm rep", "COMP_CWORD": "1"}
    done = subprocess.run([sys.executable, "-m", "crmcli"], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["report"]
    env.update(COMP_WORDS="crm interaction add 1 --type re", COMP_CWORD="5")
    done = subprocess.run([sys.executable, "-m", "crmcli"], capture_output=True, text=True, env=env)
    assert done.stdout.split() == ["refund"]


def test_a_real_usage_error_goes_to_stderr_only(isolated_database):
    result = subprocess.run([sys.executable, "-m", "crmcli", "report", "best", "--format", "xml"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == ("crm: error: --format: 'xml' is not one of table, csv, tsv, json, jsonl\n"
                             "Try 'crm report best --help'.\n")
    bare = subprocess.run([sys.executable, "-m", "crmcli"], capture_output=True, text=True)
    assert bare.returncode == 0 and "Usage: crm" in bare.stdout and bare.stderr == ""


@pytest.mark.parametrize(("address", "said"), [
    ("mysql://h/shop", ["a database server's address", "Give a file path"]),
    ("postgresql+psycopg://h/shop", ["a PostgreSQL server's address is written postgresql://"]),
    ("postgresql:/h/shop", ["a PostgreSQL server's address is written postgresql://"]),
    # No server listens there (the tests' own server is on a Unix socket): crm says so, and makes nothing.
    ("postgresql://me@127.0.0.1:9/shop", ["cannot connect to the PostgreSQL server", "is running"]),
])
@pytest.mark.parametrize("args", [("report", "best"), ("customer", "add", "Ann"), ("init",), ("info",)])
def test_a_server_address_is_never_made_into_a_folder(crm, tmp_path, monkeypatch, address, said, args):
    """CRM_DB=postgresql://... used to make a folder called 'postgresql:' with an empty database in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_DB", address)
    assert_error(crm(*args), 3, "$CRM_DB", address, *said)
    monkeypatch.delenv("CRM_DB")
    assert_error(crm("--db", address, *args), 3, "--db", *said)
    assert list(tmp_path.iterdir()) == []


def test_a_path_with_a_colon_is_still_a_path(crm, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert crm("--db", "shop:2026.db", "init").exit_code == 0
    assert (tmp_path / "shop:2026.db").exists()
