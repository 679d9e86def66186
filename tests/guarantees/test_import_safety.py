"""Imports against a hostile tester (issue 11): undo touches only what its batch made, a rejects
file that cannot be written rolls the import back, --date-format must name a whole date, and an
imported id cannot use up the ids that later customers need."""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from crmcli import db, imports
from crmcli.errors import InvalidInput
from helpers import assert_error, db_dump, freeze, unchanged


@pytest.fixture(autouse=True)
def frozen(monkeypatch, isolated_database):
    db.connect(isolated_database).close()  # the database exists: `unchanged` compares real content
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count(conn, table, where="1"):
    return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]


CUSTOMERS = "name,email,tags\nAnn Lee,ann@example.com,vip\nBob Cruz,bob@example.com,\n"
PURCHASES = ("customer_email,type,at,amount,external_id\n"
             "ann@example.com,purchase,2024-01-05,45.50,R1\n"
             "bob@example.com,purchase,2024-02-20,9.90,R2\n")


@pytest.fixture
def imported(crm, tmp_path):
    """Batch 1: two customers (Ann 1 with tag vip, Bob 2); batch 2: a purchase for each."""
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    assert crm("interaction", "import", write(tmp_path, "i.csv", PURCHASES)).exit_code == 0


# --- item 5: the rejects file is complete before the import commits ---------------------------------

WITH_A_BAD_ROW = ("customer_email,type,at,amount,external_id\n"
                  "ann@example.com,purchase,2024-01-05,45.50,R1\n"
                  "ann@example.com,purchase,2024-01-06,12.345,R2\n"
                  "bob@example.com,call,2024-01-07,,R3\n")


@pytest.mark.skipif(not shutil.os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_a_rejects_file_that_cannot_be_written_rolls_the_import_back(crm, conn, tmp_path, isolated_database):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    source = write(tmp_path, "i.csv", WITH_A_BAD_ROW)
    with unchanged(isolated_database):
        result = crm("interaction", "import", source, "--skip-invalid", "--rejects", "/dev/full")
    assert_error(result, 1, "rejects: cannot write to '/dev/full'")
    # the natural retry imports the good rows once
    rejects = tmp_path / "rejects.csv"
    result = crm("interaction", "import", source, "--skip-invalid", "--rejects", rejects)
    assert result.exit_code == 0, result.stderr
    assert "3 rows read, 2 added, 0 skipped (already there), 1 rejected" in result.stderr
    assert count(conn, "interactions") == 2
    assert "12.345" in rejects.read_text(encoding="utf-8")


def test_a_rejects_folder_that_vanishes_during_the_import_rolls_it_back(crm, conn, tmp_path, isolated_database,
                                                                      monkeypatch):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    folder = tmp_path / "out"
    folder.mkdir()
    take_chunk = imports._InteractionImporter.take_chunk
    vanish = [True]

    def take_chunk_then_remove_the_folder(self, chunk):
        taken = take_chunk(self, chunk)
        if vanish.pop() if vanish else False:
            shutil.rmtree(folder)  # the rejects file's folder goes away while the import runs
        return taken

    monkeypatch.setattr(imports._InteractionImporter, "take_chunk", take_chunk_then_remove_the_folder)
    source = write(tmp_path, "i.csv", WITH_A_BAD_ROW)
    with unchanged(isolated_database):
        result = crm("interaction", "import", source, "--skip-invalid", "--rejects", folder / "rejects.csv")
    assert_error(result, 1, "rejects: cannot write to", "rejects.csv")
    folder.mkdir()  # (not monkeypatch.undo(): that would also undo the isolated database)
    result = crm("interaction", "import", source, "--skip-invalid", "--rejects", folder / "rejects.csv")
    assert result.exit_code == 0, result.stderr
    assert count(conn, "interactions") == 2


def test_a_dry_run_still_writes_its_rejects_file(crm, conn, tmp_path):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    rejects = tmp_path / "rejects.csv"
    result = crm("interaction", "import", write(tmp_path, "i.csv", WITH_A_BAD_ROW), "--skip-invalid",
                 "--rejects", rejects, "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert count(conn, "interactions") == 0
    assert "12.345" in rejects.read_text(encoding="utf-8")


# --- item 8: --date-format names a whole date --------------------------------------------------------

@pytest.mark.parametrize("fmt, missing", [
    ("%d/%m", "has no year"), ("%m-%d %H:%M", "has no year"), ("%H:%M", "has no year"), ("", "has no year"),
    ("%m/%Y", "has no day"), ("%Y", "has no month or day"), ("%d/%Y", "has no month"), ("%d %%m %Y", "has no month"),
])
def test_a_date_format_without_year_month_or_day_is_refused(crm, tmp_path, isolated_database, fmt, missing):
    source = write(tmp_path, "c.csv", "name,since\nAnn,03/04\n")
    with unchanged(isolated_database):
        result = crm("customer", "import", source, "--date-format", fmt)
    assert_error(result, 1, f"date-format: {missing}", f"({fmt!r})")


def test_an_unknown_date_format_code_is_refused_before_any_row(crm, tmp_path, isolated_database):
    with unchanged(isolated_database):
        result = crm("interaction", "import", write(tmp_path, "i.csv", PURCHASES), "--date-format", "%d/%m/%Y %Q")
    assert_error(result, 1, "date-format: ", "('%d/%m/%Y %Q')")


@pytest.mark.parametrize("fmt, cell, day", [
    ("%d/%m/%y", "03/04/23", "2023-04-03"), ("%j/%Y", "093/2023", "2023-04-03"),
    ("%G-W%V-%u", "2023-W14-1", "2023-04-03"), ("%d %B %Y", "03 April 2023", "2023-04-03"),
])
def test_whole_date_formats_are_accepted(crm, conn, tmp_path, fmt, cell, day):
    result = crm("customer", "import", write(tmp_path, "c.csv", f"name,since\nAnn,{cell}\n"), "--date-format", fmt)
    assert result.exit_code == 0, result.stderr
    assert conn.execute("SELECT since FROM customers").fetchone()[0] == day


def test_the_python_api_refuses_a_date_format_without_a_year(conn):
    import io

    with pytest.raises(InvalidInput, match="date-format: has no year"):
        imports.import_csv(conn, "customers", io.BytesIO(b"name,since\nAnn,03/04\n"), source="x",
                           options=imports.Options(date_format="%d/%m"))


# --- ids: an import cannot use up the ids later customers need ---------------------------------------

def test_an_imported_id_above_the_bound_is_refused_with_line_column_and_value(crm, tmp_path, isolated_database):
    source = write(tmp_path, "c.csv", "id,name\n5,Ann\n9223372036854775807,Big\n1000000000000000,Also Big\n")
    with unchanged(isolated_database):
        result = crm("customer", "import", source)
    assert_error(result, 1, "line 3, column id: ", "999999999999999", "('9223372036854775807')",
                 "line 4, column id: ", "('1000000000000000')")


def test_after_the_largest_allowed_id_a_later_add_still_works(crm, conn, tmp_path):
    source = write(tmp_path, "c.csv", f"id,name\n{imports.MAX_IMPORTED_ID},Big\n")
    result = crm("customer", "import", source)
    assert result.exit_code == 0, result.stderr
    assert imports.MAX_IMPORTED_ID == 10**15 - 1
    added = crm("customer", "add", "Next One")
    assert added.exit_code == 0, added.stderr
    assert added.stdout.strip() == str(10**15)
    assert int(added.stdout) < 2**53  # still exact in JSON readers (JavaScript numbers)


@pytest.mark.parametrize("kind, text", [
    ("customer", "id,name\n{digits},Ann\n"),
    ("interaction", "customer_id,type,at\n{digits},call,2024-01-01\n"),
])
def test_an_id_of_thousands_of_digits_is_an_error_not_a_traceback(crm, tmp_path, isolated_database, kind, text):
    digits = "9" * 5000  # past Python's 4300-digit limit for int()
    with unchanged(isolated_database):
        result = crm(kind, "import", write(tmp_path, "big.csv", text.format(digits=digits)))
    assert_error(result, 1, "line 2, column ")
