"""The sample files in examples/ import as examples/README-data.md says; run as a user runs them."""

import csv
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
README = (EXAMPLES / "README-data.md").read_text(encoding="utf-8")


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "CRM_DB": str(tmp_path / "sample.db"), "HOME": str(tmp_path),
            "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


def crm(env, *args):
    return subprocess.run(["crm", *map(str, args)], env=env, capture_output=True, text=True, cwd=EXAMPLES.parent)


def query(env, sql):
    conn = sqlite3.connect(env["CRM_DB"])
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def import_samples(env):
    for command, name, *options in (("customer", "customers.csv"), ("interaction", "purchases.csv"),
                                    ("feedback", "feedback.csv"),
                                    ("interaction", "purchases-dmy.csv", "--date-format", "%d/%m/%Y %H:%M")):
        result = crm(env, command, "import", f"examples/{name}", *options)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert ", 0 rejected" in result.stderr


def test_every_sample_file_is_documented_and_imported():
    samples = sorted(p.name for p in EXAMPLES.glob("*.csv"))
    assert samples == ["customers-from-a-web-shop.csv", "customers.csv", "feedback.csv", "purchases-dmy.csv",
                       "purchases-with-errors.csv", "purchases.csv"]
    for name in samples:
        assert f"`{name}`" in README


def test_the_sample_files_import_cleanly_and_again_without_duplicates(env):
    import_samples(env)
    assert query(env, "SELECT count(*) FROM customers")[0][0] == 6
    assert query(env, "SELECT count(*) FROM interactions")[0][0] == 13
    assert query(env, "SELECT count(*) FROM feedback")[0][0] == 4
    assert query(env, "SELECT phone FROM customers WHERE external_id = 'C0006'") == [("007 555 1234",)]
    assert query(env, "SELECT at FROM interactions WHERE external_id = 'T-9001'") == [("2024-04-15T10:30:00",)]
    for command, name in (("customer", "customers.csv"), ("interaction", "purchases.csv"),
                          ("feedback", "feedback.csv")):
        again = crm(env, command, "import", f"examples/{name}")
        assert re.search(r": (\d+) rows read, 0 added", again.stderr), again.stderr
    assert query(env, "SELECT count(*) FROM interactions")[0][0] == 13


def test_the_file_with_errors_shows_the_documented_report_and_writes_nothing(env, tmp_path):
    import_samples(env)
    before = query(env, "SELECT count(*) FROM interactions")
    result = crm(env, "interaction", "import", "examples/purchases-with-errors.csv")
    assert result.returncode == 1
    assert result.stdout == ""
    documented = README.split("What `purchases-with-errors.csv` reports:")[1].split("```")[1].strip()
    assert result.stderr.strip() == documented
    assert query(env, "SELECT count(*) FROM interactions") == before

    rejects = tmp_path / "rejects.csv"
    result = crm(env, "interaction", "import", "examples/purchases-with-errors.csv", "--skip-invalid",
                 "--rejects", rejects)
    assert result.returncode == 0, result.stderr
    assert "10 rows read, 2 added, 0 skipped (already there), 8 rejected" in result.stderr
    with open(rejects, newline="", encoding="utf-8") as handle:
        rejected = list(csv.DictReader(handle))
    assert [row["external_id"] for row in rejected] == [f"R-2000{n:02d}" for n in range(2, 10)]
    assert all(row["error"].startswith("line ") for row in rejected)


def test_import_list_and_undo_on_the_samples(env):
    import_samples(env)
    listed = crm(env, "import", "list", "--format", "csv")
    assert listed.returncode == 0
    assert [line.split(",")[1] for line in listed.stdout.splitlines()[1:]] == [
        "interactions", "feedback", "interactions", "customers"]
    undo = crm(env, "import", "undo", "4")
    assert undo.returncode == 0, undo.stderr
    assert query(env, "SELECT count(*) FROM interactions")[0][0] == 10


def _web_shop_block(text):
    """README's command for the web shop's file and what it says, as written there."""
    part = text.split("A file from another program (`customers-from-a-web-shop.csv`")[1]
    blocks = part.split("```")
    return blocks[1].removeprefix("sh\n"), blocks[3].strip()


def test_the_web_shop_file_imports_with_the_documented_map(env):
    command, said = _web_shop_block(README)
    assert _web_shop_block((EXAMPLES.parent / "README.md").read_text(encoding="utf-8")) == (command, said)
    result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, cwd=EXAMPLES.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert re.sub(r"\d+\.\d s\)", "0.0 s)", result.stderr.strip()) == said
    assert query(env, "SELECT external_id, name, email, phone, company, since, note FROM customers ORDER BY id") == [
        ("WS-1001", "Sanne de Vries", "sanne.devries@example.nl", "+31 6 12345678", None, "2023-03-14",
         "vaste klant, bestelt op vrijdag"),
        ("WS-1002", "Daan Jansen", "daan@example.nl", "06 87654321", "Jansen Bakkerij B.V.", "2023-11-02", None),
        ("WS-1003", "Fatima El Amrani", "fatima.elamrani@example.com", None, None, "2024-01-28",
         'vraagt om "geen noten"'),
        ("WS-1004", "Lucas Peeters", "LUCAS.PEETERS@EXAMPLE.BE", "+32 470 12 34 56", None, "2024-06-05",
         "Belgische klant"),
    ]
    # Its own names without --map are refused, naming them and the way out; nothing is written.
    refused = crm(env, "customer", "import", "examples/customers-from-a-web-shop.csv")
    assert refused.returncode == 1
    assert "unknown column 'Klantnummer', 'Naam', 'E-mail'" in refused.stderr and "--map renames them" in refused.stderr
    again = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, cwd=EXAMPLES.parent)
    assert "4 rows read, 0 added, 0 updated, 4 skipped (already there)" in again.stderr  # matched by external_id
