"""Cron and scripts (issue 13): a typo'd database path creates nothing, --quiet prints nothing on a
healthy run, LF line ends (CRLF with --crlf), TSV, customer show's CSV columns, one form of date."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from helpers import assert_error, freeze

from crmcli import customers, db, feedback, interactions


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


@pytest.fixture
def small_shop(conn):
    """Two customers with a few purchases: enough for `report best`, small enough to be quick."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", email="ann@example.com", phone="+63 917 555 0101")
        bob = customers.add(conn, "Bob Cruz", company="line one\nline two\tand a tab \\ and a backslash")
        for day in ("2024-01-05", "2024-02-10", "2024-04-01T14:30:00"):
            interactions.add(conn, ann, "purchase", at=day, amount="25.50")
        interactions.add(conn, bob, "purchase", at="2024-03-03", amount="10")
        feedback.add(conn, ann, "complaint", at="2024-05-01", note="late")
    return conn


READ_COMMANDS = [
    ["report", "best", "--output", "x.csv"], ["report", "churn"], ["report", "segments"], ["report", "model"],
    ["report", "summary"], ["report", "staff"], ["customer", "list"], ["customer", "show", "1"],
    ["customer", "duplicates"], ["customer", "history", "1"], ["interaction", "list"], ["feedback", "list"],
    ["followup", "list"], ["agenda"], ["import", "list"], ["target", "list"], ["info"], ["export", "customers"],
    ["backup", "copy.db"],
]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=" ".join)
def test_a_read_command_on_a_mistyped_database_fails_and_creates_nothing(crm, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    typo = tmp_path / "shop" / "crn.db"
    monkeypatch.setenv("CRM_DB", str(typo))
    before = sorted(os.listdir(tmp_path))
    result = crm(*args)
    assert_error(result, 3, f"no database at {typo} (given by $CRM_DB)", "crm init")
    assert not typo.parent.exists()  # no file, and no folder either
    assert sorted(os.listdir(tmp_path)) == before  # nor the --output file or the backup
    # the same through --db, before or after the subcommand
    other = tmp_path / "other.db"
    assert_error(crm("--db", other, *args), 3, f"no database at {other} (given by --db)")
    assert_error(crm(*args, "--db", tmp_path / "other.db"), 3, "no database at")
    assert sorted(os.listdir(tmp_path)) == before


def test_a_write_command_creates_the_database_in_private_folders(crm, tmp_path):
    path = tmp_path / "new" / "folder" / "crm.db"
    assert crm("--db", path, "customer", "add", "Ann").stdout == "1\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert (path.parent.stat().st_mode & 0o777, path.parent.parent.stat().st_mode & 0o777) == (0o700, 0o700)


def test_init_creates_an_empty_database_says_where_and_is_harmless_again(crm, tmp_path):
    path = tmp_path / "shop" / "crm.db"
    result = crm("--db", path, "init")
    assert result.exit_code == 0 and result.stdout == ""
    assert f"created an empty crmcli database at {path}" in result.stderr
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert crm("--db", path, "customer", "add", "Ann").exit_code == 0
    again = crm("--db", path, "init")
    assert again.exit_code == 0 and "already exists" in again.stderr and "1 customers" in again.stderr
    assert json.loads(crm("--db", path, "info", "--format", "json").stdout)["customers"] == 1
    assert crm("--db", path, "init", "--quiet").stderr == ""


def test_init_refuses_a_file_that_is_not_a_database(crm, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    assert_error(crm("--db", path, "init"), 3, "not a crmcli database")
    assert path.read_text() == "my notes\n"


def test_quiet_prints_nothing_on_a_healthy_report(crm, small_shop, tmp_path):
    target = tmp_path / "best.csv"
    loud = crm("report", "best", "--output", target)
    assert loud.exit_code == 0 and loud.stderr != ""  # the control: without --quiet there are notes
    for args in (["--quiet", "report", "best", "--output", target], ["report", "best", "-q", "--output", target]):
        result = crm(*args)
        assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
        assert target.read_text(encoding="utf-8").startswith("rank,customer_id,")


def test_quiet_never_silences_an_error(crm, small_shop):
    assert_error(crm("-q", "customer", "show", "nobody@example.com"), 1, "crm: error:")
    assert_error(crm("-q", "interaction", "add", "1", "--type", "teleport"), 2, "'teleport' is not one of")


def test_quiet_does_not_stay_on_for_the_next_command(crm, small_shop):
    crm("-q", "demo", "--force", "--customers", "5")
    assert crm("demo", "--force", "--customers", "5").stderr != ""


def test_csv_ends_lines_with_lf_and_with_crlf_when_asked(crm, small_shop, tmp_path):
    text = crm("customer", "list", "--format", "csv").stdout_bytes
    rows = list(csv.reader(io.StringIO(text.decode(), newline="")))
    assert [row[1] for row in rows] == ["name", "Ann Lee", "Bob Cruz"]
    # Every line ends LF except inside the quoted note, which keeps its own line break.
    assert text.split(b'"')[0].count(b"\r") == 0 and text.endswith(b"\n") and not text.endswith(b"\r\n")
    crlf = crm("customer", "list", "--format", "csv", "--crlf").stdout_bytes
    assert crlf.startswith(b"id,name,") and crlf.split(b"\r\n")[0] == text.split(b"\n")[0] and crlf.endswith(b"\r\n")
    assert list(csv.reader(io.StringIO(crlf.decode(), newline=""))) == rows
    assert crm("--crlf", "export", "customers").stdout_bytes.count(b"\r\n") == 3
    # the --crlf of one command does not stay on for the next
    assert b"\r\n" not in crm("export", "customers").stdout_bytes
    crm("--crlf", "customer", "list", "--output", tmp_path / "x.csv")
    assert (tmp_path / "x.csv").read_bytes().count(b"\r\n") == 3


def test_tsv_keeps_every_row_on_one_line_and_round_trips_nasty_values(crm, conn):
    nasty = ["tab\there", "new\nline", "back\\slash", "\\t literally", "cr\rhere", "both\\\tand", "Nguyễn 👍🏽", ""]
    with db.transaction(conn):
        for n, text in enumerate(nasty):
            customers.add(conn, f"Customer {n}", note=text or None, company=f"c{n}")
    result = crm("export", "customers", "--format", "tsv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[-1] == "" and len(lines) == len(nasty) + 2  # a header, one line per customer, final LF
    header = lines[0].split("\t")
    unescape = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\\\": "\\"}

    def cell(raw):
        out, i = [], 0
        while i < len(raw):
            if raw[i] == "\\":
                out.append(unescape[raw[i:i + 2]])
                i += 2
            else:
                out.append(raw[i])
                i += 1
        return "".join(out)

    notes = [cell(dict(zip(header, line.split("\t"), strict=True))["note"]) for line in lines[1:-1]]
    assert notes == nasty


def test_tsv_is_chosen_by_format_or_by_the_output_file_name(crm, small_shop, tmp_path):
    for args in (["--format", "TSV"], ["-o", tmp_path / "list.tsv"]):
        result = crm("customer", "list", *args)
        assert result.exit_code == 0, result.stderr
        text = result.stdout if result.stdout else (tmp_path / "list.tsv").read_text(encoding="utf-8")
        assert text.startswith("id\tname\temail\t") and "+63 917 555 0101" in text
        assert "line one\\nline two\\tand a tab \\\\ and a backslash" in text


def test_customer_show_csv_has_the_same_columns_for_every_customer(crm, small_shop, monkeypatch):
    with db.transaction(small_shop):
        customers.add(small_shop, "Nobody Yet")  # no purchases, scores, complaints or follow-ups
    headers = {}
    for ref in ("1", "2", "3"):
        result = crm("customer", "show", ref, "--format", "csv")
        assert result.exit_code == 0, result.stderr
        rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
        assert len(rows) == 2
        headers[ref] = rows[0]
    assert headers["1"] == headers["2"] == headers["3"]
    assert {"open_complaints", "timeline", "segment", "why", "last_purchase"} <= set(headers["1"])
    assert "scores" not in headers["1"]
    empty = dict(zip(headers["3"], list(csv.reader(io.StringIO(crm("customer", "show", "3", "--format", "csv")
                                                           .stdout, newline="")))[1], strict=True))
    assert (empty["open_complaints"], empty["timeline"], empty["segment"], empty["purchases"]) == ("0", "0", "", "0")


def test_customer_show_knows_the_keys_the_scores_have(small_shop):
    """views.PROFILE_SCORES lists customer_scores' keys, so a customer without scores gets the same columns."""
    from crmcli.analytics import report
    from crmcli.cli import views

    scores = report.customer_scores(small_shop, 1)
    assert scores is not None and tuple(scores) == views.PROFILE_SCORES


def test_interaction_list_shows_one_form_of_date(crm, small_shop):
    rows = list(csv.DictReader(io.StringIO(crm("interaction", "list", "--format", "csv").stdout, newline="")))
    assert [row["at"] for row in rows] == ["2024-04-01T14:30:00", "2024-03-03T00:00:00", "2024-02-10T00:00:00",
                                          "2024-01-05T00:00:00"]
    assert {len(row["at"]) for row in rows} == {19}
    listed = json.loads(crm("interaction", "list", "--format", "json").stdout)
    assert [row["at"] for row in listed] == [row["at"] for row in rows]


def _run(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "crmcli", *map(str, args)], capture_output=True, text=True, env=env)


def test_a_real_cron_run_prints_nothing_and_a_typo_only_on_stderr(small_shop, isolated_database, tmp_path):
    target = tmp_path / "best.csv"
    healthy = _run("report", "best", "--quiet", "--output", target, env_extra={"CRM_DB": str(isolated_database)})
    assert (healthy.returncode, healthy.stdout, healthy.stderr) == (0, "", "")
    assert target.read_bytes().startswith(b"rank,customer_id,") and b"\r\n" not in target.read_bytes()
    typo = tmp_path / "typo" / "crm.db"
    failed = _run("report", "best", "--quiet", "--output", target, env_extra={"CRM_DB": str(typo)})
    assert failed.returncode == 3 and failed.stdout == ""
    assert failed.stderr.startswith(f"crm: error: no database at {typo}") and "Traceback" not in failed.stderr
    assert not typo.parent.exists()
