"""`crm report model --backtest`: the charts on a terminal, every number in csv/json, the --plot files, the errors."""

import csv
import io
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from helpers import assert_error, freeze

from crmcli import customers, db, demo, interactions
from crmcli.analytics import backtest

NOW = datetime(2026, 11, 22, 12, 0, 0)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=1)  # what `crm demo` makes
    return conn


def csv_rows(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_csv_has_one_stable_row_shape(shop, crm):
    result = crm("report", "model", "--backtest", "--format", "csv")
    rows = csv_rows(result)
    assert result.stdout.splitlines()[0].split(",") == list(backtest.COLUMNS)
    models = sorted({row["model"] for row in rows})
    assert models and set(models) <= {"pareto", "pareto_limit", "bgnbd", "mbgnbd"}
    assert "backtest: fitted on purchases from" in result.stderr
    for model in models:
        mine = [row for row in rows if row["model"] == model]
        kinds = [row["kind"] for row in mine]
        assert kinds.count("by_frequency") == 8 and kinds.count("summary") == 1 and kinds.count("complaints") == 1
        assert kinds.count("tracking") > 20  # weekly over the demo's history
        (summary,) = [row for row in mine if row["kind"] == "summary"]
        assert summary["cutoff"] and int(summary["holdout_days"]) % 7 == 0
        total = sum(float(row["actual"]) for row in mine if row["kind"] == "by_frequency")
        assert total == float(summary["actual"])
    # The same numbers every run: the rows are the data's, not the clock's.
    assert crm("report", "model", "--backtest", "--format", "csv").stdout == result.stdout


def test_json_and_a_chosen_holdout(shop, crm):
    result = crm("report", "model", "--backtest", "--holdout", "90", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    summaries = [row for row in rows if row["kind"] == "summary"]
    assert {row["holdout_days"] for row in summaries} == {90}
    assert {row["cutoff"] for row in summaries} == {"2026-08-24"}
    complaints = [row for row in rows if row["kind"] == "complaints"]
    assert all(isinstance(row["supported"], bool) for row in complaints)


def test_table_shows_the_charts_and_a_line_per_model(shop, crm):
    result = crm("report", "model", "--backtest", "--format", "table")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Cumulative repeat purchase days" in out and "Holdout purchase days per customer" in out
    assert "7+" in out and "week (0 = cut-off)" in out
    assert "Backtest as of 2026-11-22" in out and "complaint signal" in out and "too few to judge" in out
    assert "\x1b[" not in out  # not a terminal: no colour


@pytest.mark.parametrize("name", ["backtest.png", "backtest.PNG"])
def test_plot_writes_a_png(shop, crm, tmp_path, name):
    target = tmp_path / name
    result = crm("report", "model", "--backtest", "--plot", target, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    data = target.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    assert f"wrote the charts to {target}" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_plot_writes_an_svg_and_an_html_page(shop, crm, tmp_path):
    svg, page = tmp_path / "backtest.svg", tmp_path / "backtest.html"
    assert crm("report", "model", "--plot", svg, "--format", "csv").exit_code == 0  # --plot means a backtest
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = svg.read_text(encoding="utf-8")
    assert "Cumulative repeat purchase days" in text  # in the comment matplotlib writes beside each text
    assert crm("report", "model", "--backtest", "--plot", page, "--format", "csv").exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "</html>" in html
    assert "<?xml" not in html  # the svg inline, without its file header
    assert len(re.findall(r"<tr><td>\w+</td><td>126</td>", html)) == len(backtest.purchase_models())  # one a model
    assert "complaint lift (95% interval)" in html and "no verdict" in html  # 7 flagged customers: too few
    # The same data make the same file.
    again = tmp_path / "again.svg"
    crm("report", "model", "--backtest", "--plot", again, "--format", "csv")
    assert again.read_bytes() == svg.read_bytes()


@pytest.mark.parametrize("name", ["backtest.pdf", "backtest", "chart.png.txt"])
def test_bad_plot_extension(shop, crm, tmp_path, name):
    result = crm("report", "model", "--backtest", "--plot", tmp_path / name)
    assert_error(result, 1, "plot:", name, ".png, .svg or .html")
    assert not (tmp_path / name).exists()


@pytest.mark.sqlite_only("the database file as the plot's path; a server has no file crm could write onto")
def test_plot_never_onto_the_database(shop, crm, isolated_database):
    before = isolated_database.read_bytes()
    result = crm("report", "model", "--backtest", "--plot", isolated_database.with_suffix(".db"))
    assert_error(result, 1, "plot:")  # not .png: refused by its extension first
    link = isolated_database.parent / "crm.png"
    os.symlink(isolated_database, link)
    assert_error(crm("report", "model", "--backtest", "--plot", link), 1, "plot:", "is the database")
    assert isolated_database.read_bytes() == before


@pytest.mark.parametrize("holdout, fragment", [("3", "at least 7 days"), ("-14", "at least 7 days"),
                                               ("5000", "leaves less than 28 days")])
def test_bad_holdout(shop, crm, holdout, fragment):
    assert_error(crm("report", "model", "--backtest", "--holdout", holdout), 1, "holdout:", fragment, holdout)


def test_too_little_data_says_so_and_exits_cleanly(conn, crm, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        for n in range(5):
            ref = customers.add(conn, f"Customer {n}")
            interactions.add(conn, ref, "purchase", at="2026-06-01T10:00:00", amount="5")
            interactions.add(conn, ref, "purchase", at="2026-09-01T10:00:00", amount="5")
    result = crm("report", "model", "--backtest")
    assert result.exit_code == 0
    assert "too little data for a backtest" in result.stderr
    assert "a fit needs at least 100 buyers (95 more) and 20 repeat buyers (15 more)" in result.stderr
    assert "Traceback" not in result.stderr
    result = crm("report", "model", "--backtest", "--format", "csv")
    assert result.exit_code == 0 and result.stdout.splitlines() == [",".join(backtest.COLUMNS)]
    empty = crm("report", "model", "--backtest", "--as-of", "2026-06-10", "--format", "json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    assert "a backtest needs at least 56" in empty.stderr


def test_help_never_loads_the_chart_libraries(isolated_database):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "crmcli", "--help"], capture_output=True,
                            text=True, env={**os.environ, "CRM_DB": str(isolated_database)})
    assert result.returncode == 0 and "Usage" in result.stdout
    assert "crmcli" in result.stderr  # importtime really listed the imports
    assert not [line for line in result.stderr.splitlines() if "plotext" in line or "matplotlib" in line]


@pytest.mark.parametrize("width", [80, 120])
def test_on_a_terminal_the_charts_fit_and_have_colour(isolated_database, width):
    """As a person sees it: a real pseudo-terminal; the charts side by side from 100 columns, one above the other
    below; every line within the width; colour unless NO_COLOR."""
    from _processes import on_a_pty
    from rich.cells import cell_len

    env = {**os.environ, "CRM_DB": str(isolated_database)}
    env.pop("COLUMNS", None)
    command = [sys.executable, "-m", "crmcli"]
    assert subprocess.run([*command, "demo"], env=env, capture_output=True).returncode == 0
    code, screen, stderr = on_a_pty(["report", "model", "--backtest"], env, width=width, command=command)
    assert code == 0, stderr
    assert "\x1b[" in screen
    plain = re.sub(r"\x1b\[[0-9;]*m", "", screen).replace("\r\n", "\n")
    lines = plain.splitlines()
    assert max(cell_len(line) for line in lines) <= width
    titles = [n for n, line in enumerate(lines) if "Cumulative repeat purchase days" in line]
    below = [n for n, line in enumerate(lines) if "Holdout purchase days per customer" in line]
    assert len(titles) == len(below) == 1
    assert (titles == below) == (width >= 100)
    assert "complaint signal (" in plain
    code, screen, _ = on_a_pty(["report", "model", "--backtest"], {**env, "NO_COLOR": "1"}, width=width,
                               command=command)
    assert code == 0 and "\x1b[" not in screen


def test_plot_into_a_missing_folder_or_a_directory_fails_before_fitting(shop, crm, tmp_path):
    (tmp_path / "charts.png").mkdir()
    for target, fragment in ((tmp_path / "missing" / "b.png", "does not exist"),
                             (tmp_path / "charts.png", "is a directory")):
        result = crm("report", "model", "--backtest", "--plot", target)
        assert_error(result, 1, "plot:", fragment)
        assert "backtest: fitted" not in result.stderr  # refused before any work


def test_report_model_shows_each_candidate_s_holdout_error_once_a_backtest_ran(shop, crm):
    """report model's holdout columns are empty, with a note, until `--backtest` has measured them; then
    each purchase model carries the error and correlation its backtest summary row gave."""
    before = crm("report", "model", "--format", "json")
    assert before.exit_code == 0, before.stderr
    assert "`crm report model --backtest` measures each model" in before.stderr
    assert {row["holdout_error"] for row in json.loads(before.stdout)} == {None}
    measured = crm("report", "model", "--backtest", "--format", "json")
    assert measured.exit_code == 0, measured.stderr
    summaries = {r["model"]: r for r in json.loads(measured.stdout) if r["kind"] == "summary"}
    after = crm("report", "model", "--format", "json")
    assert "measures each model" not in after.stderr
    rows = {row["model"]: row for row in json.loads(after.stdout)}
    for name, row in rows.items():
        if name == "gamma_gamma":
            assert row["holdout_error"] is None
            continue
        assert row["holdout_error"] == pytest.approx(summaries[name]["error"], abs=1e-4)
        assert row["holdout_correlation"] == pytest.approx(summaries[name]["correlation"], abs=1e-4)
        assert row["backtest_cutoff"] == summaries[name]["cutoff"]
