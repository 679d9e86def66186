"""Imports against a hostile tester (issue 11): undo touches only what its batch made, a rejects
file that cannot be written rolls the import back, --date-format must name a whole date, and an
imported id cannot use up the ids that later customers need."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import assert_error, freeze, unchanged

from crmcli import db
from crmcli.errors import InvalidInput
from crmcli.transfer import imports
from crmcli.transfer.imports.interactions import InteractionImporter


@pytest.fixture(autouse=True)
def frozen(monkeypatch, isolated_database):
    db.connect(isolated_database).close()  # the database exists: `unchanged` compares real content
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def count(conn, table, where="1 = 1"):
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


# --- item 4: undo removes only what its batch created -----------------------------------------------

def test_undo_refuses_when_a_follow_up_was_added_by_hand_and_force_counts_it(crm, conn, tmp_path,
                                                                            isolated_database):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    assert crm("followup", "add", "1", "--due", "tomorrow", "--note", "call back").stdout.strip() == "1"
    with unchanged(isolated_database):
        result = crm("import", "undo", "1")
    assert_error(result, 1, "import batch 1", "1 follow-up (id 1)", "crm customer show 1", "--force")
    result = crm("import", "undo", "1", "--force")
    assert result.exit_code == 0, result.stderr
    assert "removed 2 customers, 0 interactions, 0 feedback, 1 follow-up, 1 tag" in result.stderr
    assert (count(conn, "customers"), count(conn, "followups")) == (0, 0)


def test_undo_refuses_for_interactions_and_feedback_added_by_hand_naming_their_ids(crm, conn, tmp_path,
                                                                                  isolated_database):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    assert crm("interaction", "add", "2", "--type", "call", "--at", "2024-05-01").exit_code == 0
    assert crm("interaction", "add", "2", "--type", "visit", "--at", "2024-05-02").exit_code == 0
    assert crm("feedback", "add", "1", "--type", "compliment", "--at", "2024-05-03").exit_code == 0
    with unchanged(isolated_database):
        result = crm("import", "undo", "1")
    assert_error(result, 1, "2 interactions (ids 1, 2)", "1 feedback (id 1)", "customers 1, 2", "--force")
    result = crm("import", "undo", "1", "--force")
    assert result.exit_code == 0, result.stderr
    # what cascaded with the customers is counted too
    assert "removed 2 customers, 2 interactions, 1 feedback, 0 follow-ups, 1 tag" in result.stderr
    assert (count(conn, "interactions"), count(conn, "feedback")) == (0, 0)


def test_undo_refuses_when_a_tag_was_added_by_hand(crm, conn, tmp_path, isolated_database):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    assert crm("customer", "edit", "2", "--add-tag", "gold").exit_code == 0
    with unchanged(isolated_database):
        result = crm("import", "undo", "1")
    assert_error(result, 1, "1 tag added since (gold on customer 2)", "crm customer history 2", "--force")


def test_undo_refuses_when_a_customer_was_merged_into_one_it_added(crm, conn, tmp_path, isolated_database):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    assert crm("customer", "add", "Ann L.", "--phone", "0412 555 019").stdout.strip() == "3"
    assert crm("customer", "merge", "1", "3", "--yes").exit_code == 0
    with unchanged(isolated_database):
        result = crm("import", "undo", "1")
    assert_error(result, 1, "1 customer merged in (3 into 1)", "--force")


def test_undo_without_anything_added_since_removes_the_batch_and_its_own_tags(crm, conn, tmp_path):
    assert crm("customer", "import", write(tmp_path, "c.csv", CUSTOMERS)).exit_code == 0
    assert crm("customer", "add", "Typed", "--tag", "walk-in").exit_code == 0
    result = crm("import", "undo", "1")
    assert result.exit_code == 0, result.stderr
    assert "removed 2 customers, 0 interactions, 0 feedback, 0 follow-ups, 1 tag" in result.stderr
    assert [tuple(r) for r in conn.execute("SELECT name FROM customers")] == [("Typed",)]
    assert [tuple(r) for r in conn.execute("SELECT tag FROM customer_tags")] == [("walk-in",)]


def test_undo_of_an_interaction_batch_leaves_what_people_added_to_its_customers(crm, conn, tmp_path, imported):
    assert crm("followup", "add", "1", "--due", "tomorrow").exit_code == 0
    result = crm("import", "undo", "2")  # batch 2 added purchases only, to customers it did not add
    assert result.exit_code == 0, result.stderr
    assert "removed 0 customers, 2 interactions, 0 feedback, 0 follow-ups, 0 tags" in result.stderr
    assert (count(conn, "customers"), count(conn, "followups")) == (2, 1)


# --- item 5: the rejects file is complete before the import commits ---------------------------------

WITH_A_BAD_ROW = ("customer_email,type,at,amount,external_id\n"
                  "ann@example.com,purchase,2024-01-05,45.50,R1\n"
                  "ann@example.com,purchase,2024-01-06,12.345,R2\n"
                  "bob@example.com,call,2024-01-07,,R3\n")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
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
    take_chunk = InteractionImporter.take_chunk
    vanish = [True]

    def take_chunk_then_remove_the_folder(self, chunk):
        taken = take_chunk(self, chunk)
        if vanish.pop() if vanish else False:
            shutil.rmtree(folder)  # the rejects file's folder goes away while the import runs
        return taken

    monkeypatch.setattr(InteractionImporter, "take_chunk", take_chunk_then_remove_the_folder)
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


@pytest.mark.parametrize("column", ["customer_email", "customer_external_id"])
def test_a_customer_cell_of_only_an_escaping_apostrophe_names_no_one(crm, conn, isolated_database, tmp_path, column):
    """"'\\t" is an apostrophe crm's export adds, and a tab: once unescaped, blank. It was a traceback."""
    source = tmp_path / "purchases.csv"
    source.write_text(f"{column},type,at,amount\n\"'\t\",purchase,2024-01-01,5.00\n")
    with unchanged(isolated_database):
        result = crm("interaction", "import", source)
    assert_error(result, 1, f"line 2, column {column}: is empty; every row must name its customer")
