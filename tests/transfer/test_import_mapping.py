"""Imports that meet real files: --map renames the file's columns to crm's, --ignore-extra leaves out the rest."""

import csv
import io

import pytest
from helpers import assert_error, freeze, unchanged

from crmcli import customers, db
from crmcli.errors import InvalidInput
from crmcli.transfer import imports


@pytest.fixture(autouse=True)
def frozen(monkeypatch, isolated_database):
    db.connect(isolated_database).close()  # the database exists: `unchanged` compares real content
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


def write(tmp_path, text, name="shop.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


SHOP = (
    "Naam,E-mail,Telefoon,Orders\n"
    "Ann Lee,ann@example.com,0412 555 019,3\n"
    "Bob Cruz,bob@example.com,,1\n"
)


def names_and_emails(conn):
    return [(c["name"], c["email"], c["phone"]) for c in (customers.get(conn, i) for i in (1, 2))]


# --- --map -------------------------------------------------------------------------------------------

def test_map_renames_the_files_columns_comma_separated_or_repeated(crm, conn, tmp_path):
    path = write(tmp_path, SHOP)
    result = crm("customer", "import", path, "--map", "Naam=name,E-mail=email", "--map", "telefoon=phone",
                 "--ignore-extra")
    assert result.exit_code == 0, result.stderr
    assert names_and_emails(conn) == [("Ann Lee", "ann@example.com", "0412 555 019"),
                                      ("Bob Cruz", "bob@example.com", None)]


def test_without_a_map_the_foreign_names_are_refused_with_the_way_out(crm, isolated_database, tmp_path):
    path = write(tmp_path, SHOP)
    with unchanged(isolated_database):
        result = crm("customer", "import", path)
    assert_error(result, 1, "unknown column 'Naam', 'E-mail', 'Telefoon', 'Orders'", "missing column 'name'",
                 "--ignore-extra leaves unknown ones out, --map renames them")


def test_a_name_with_a_comma_is_quoted_csv_style_and_one_with_equals_splits_at_the_last(crm, conn, tmp_path):
    path = write(tmp_path, '"Last, first";a=b;x\nLee Ann;likes tea;1\n')
    result = crm("customer", "import", path, "--map", '"Last, first"=name, a=b=note', "--map", "x=")
    assert result.exit_code == 0, result.stderr
    ann = customers.get(conn, 1)
    assert (ann["name"], ann["note"]) == ("Lee Ann", "likes tea")


def test_mapping_a_column_to_nothing_leaves_it_out(crm, conn, tmp_path):
    """An id taken by someone else in this database: leave the file's ids out and the rows are new customers."""
    with db.transaction(conn):
        customers.add(conn, "Somebody Else")
    path = write(tmp_path, "id,name\n1,Ann Lee\n")
    assert crm("customer", "import", path).exit_code == 1  # 1 is already Somebody Else
    result = crm("customer", "import", path, "--map", "id=")
    assert result.exit_code == 0, result.stderr
    assert customers.get(conn, 2)["name"] == "Ann Lee"


@pytest.mark.parametrize("mapping, fragments", [
    ("Mail=email", ("map: is not a column of", "its columns are: 'Naam', 'E-mail', 'Telefoon', 'Orders'",
                    "('Mail')")),
    ("Naam=name,E-mail=name", ("map: maps a second column onto name (after 'naam')", "('E-mail=name')")),
    ("Naam=fullname", ("'fullname' is not a customers column; they are: id, name, email", "('Naam=fullname')")),
    ("Naam=name,naam=note", ("map: is mapped twice ('naam')",)),
    ("Naam", ("map: is not FILE_COLUMN=CRM_COLUMN, e.g. 'E-mail=email'", "('Naam')")),
])
def test_a_bad_map_is_refused_naming_it_and_nothing_changes(crm, isolated_database, tmp_path, mapping, fragments):
    path = write(tmp_path, SHOP)
    with unchanged(isolated_database):
        result = crm("customer", "import", path, "--map", mapping, "--ignore-extra")
    assert_error(result, 1, *fragments)


def test_mapping_onto_a_column_the_file_also_has_is_refused(crm, isolated_database, tmp_path):
    path = write(tmp_path, "name,E-mail,email\nAnn,a@example.com,b@example.com\n")
    with unchanged(isolated_database):
        result = crm("customer", "import", path, "--map", "E-mail=email")
    assert_error(result, 1, "'e-mail' is mapped onto 'email', which the file also has")


def test_columns_can_swap_names(crm, conn, tmp_path):
    path = write(tmp_path, "name,note\nlikes tea,Ann Lee\n")
    result = crm("customer", "import", path, "--map", "name=note,note=name")
    assert result.exit_code == 0, result.stderr
    assert (customers.get(conn, 1)["name"], customers.get(conn, 1)["note"]) == ("Ann Lee", "likes tea")


def test_errors_name_crms_column_and_the_rejects_file_keeps_the_files_names(crm, conn, tmp_path):
    path = write(tmp_path, "Naam;Sinds\nAnn Lee;2024-01-02\nBob Cruz;02/01/2024\n")
    rejects = tmp_path / "rejects.csv"
    result = crm("customer", "import", path, "--map", "Naam=name,Sinds=since", "--skip-invalid", "--rejects", rejects)
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(io.StringIO(rejects.read_text(encoding="utf-8")), delimiter=";"))
    assert rows[0] == ["naam", "sinds", "error"]
    assert rows[1][:2] == ["Bob Cruz", "02/01/2024"]
    assert rows[1][2].startswith("line 3, column since (file column 'Sinds'): is not an ISO 8601 date")
    # fixed, it goes in with the same command line
    rejects.write_text("naam;sinds;error\nBob Cruz;2024-01-02;line 3 ...\n", encoding="utf-8")
    again = crm("customer", "import", rejects, "--map", "Naam=name,Sinds=since")
    assert again.exit_code == 0, again.stderr
    assert customers.get(conn, 2)["since"] == "2024-01-02"


def test_map_works_for_interactions_and_feedback(crm, conn, tmp_path):
    with db.transaction(conn):
        customers.add(conn, "Ann", email="ann@example.com")
    sales = write(tmp_path, "Klant,Soort,Datum,Bedrag\nann@example.com,purchase,2024-05-01,12.50\n", "sales.csv")
    result = crm("interaction", "import", sales, "--map", "Klant=customer_email,Soort=type,Datum=at,Bedrag=amount")
    assert result.exit_code == 0, result.stderr
    said = write(tmp_path, "Klant,Soort,Datum,Cijfer\nann@example.com,compliment,2024-05-02,5\n", "said.csv")
    result = crm("feedback", "import", said, "--map", "Klant=customer_email,Soort=type,Datum=at,Cijfer=rating")
    assert result.exit_code == 0, result.stderr
    assert conn.execute("SELECT amount_cents FROM interactions").fetchone()[0] == 1250
    assert conn.execute("SELECT rating FROM feedback").fetchone()[0] == 5


def test_parse_map_reads_pairs():
    assert imports.parse_map(['"Last, first"=Name, E-mail=email,', "a=b=note", "id="]) == (
        ("Last, first", "name"), ("E-mail", "email"), ("a=b", "note"), ("id", None))
    with pytest.raises(InvalidInput) as raised:
        imports.parse_map(["=name"])
    assert raised.value.field == "map"


# --- --ignore-extra ------------------------------------------------------------------------------------

def test_ignore_extra_leaves_unknown_columns_out_and_names_them_once(crm, conn, tmp_path):
    path = write(tmp_path, "name,email,Orders,revenue,orders2\nAnn,ann@example.com,3,10.00,x\n")
    result = crm("customer", "import", path, "--ignore-extra")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "note: left out 3 columns crm does not import (--ignore-extra): Orders, revenue, orders2"
    assert lines[1].startswith("customers from ") and len(lines) == 2
    assert customers.get(conn, 1)["email"] == "ann@example.com"


def test_ignore_extra_takes_nameless_and_repeated_unknown_columns(crm, conn, tmp_path):
    path = write(tmp_path, "name,x,x,\nAnn,1,2,\n")
    result = crm("customer", "import", path, "--ignore-extra")
    assert result.exit_code == 0, result.stderr
    assert "x, x, column 4 (no name)" in result.stderr
    assert customers.get(conn, 1)["name"] == "Ann"


def test_ignore_extra_still_refuses_what_is_missing_or_repeated(crm, isolated_database, tmp_path):
    with unchanged(isolated_database):
        missing = crm("customer", "import", write(tmp_path, "email,extra\na@example.com,1\n"), "--ignore-extra")
        repeated = crm("customer", "import", write(tmp_path, "name,Name\nAnn,Ann\n", "r.csv"), "--ignore-extra")
    assert_error(missing, 1, "missing column 'name'")
    assert_error(repeated, 1, "repeated column 'name'")


def test_without_any_extra_column_there_is_no_note(crm, tmp_path):
    result = crm("customer", "import", write(tmp_path, "name\nAnn\n"), "--ignore-extra")
    assert result.exit_code == 0, result.stderr
    assert "left out" not in result.stderr


def test_the_python_api_reports_the_ignored_columns(conn):
    text = b"customer_email,type,at,Till\nann@example.com,call,2024-01-02,3\n"
    with db.transaction(conn):
        customers.add(conn, "Ann", email="ann@example.com")
    result = imports.import_csv(conn, "interactions", io.BytesIO(text), source="x",
                                options=imports.Options(ignore_extra=True))
    assert (result.added, result.ignored_columns) == (1, ["Till"])


def test_map_and_ignore_extra_hold_on_the_worker_path(conn, monkeypatch):
    """A big file is cut into blocks for worker processes: they read the mapped names and say the file's."""
    from crmcli.transfer.imports import blocks, workers

    monkeypatch.setattr(workers, "worker_count", lambda: 2)
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 4096)
    with db.transaction(conn):
        customers.add(conn, "Ann", external_id="A")
    rows = [f"A,purchase,2024-01-02,{n % 50 + 1}.25,till {n}" for n in range(3000)]
    rows[2498] = "A,purchase,2024-01-02,1.255,till x"  # line 2500 of the file
    text = ("Klant,Soort,Datum,Bedrag,Kassa\n" + "\n".join(rows) + "\n").encode()
    mapping = imports.parse_map(["Klant=customer_external_id,Soort=type,Datum=at,Bedrag=amount"])
    options = imports.Options(columns=mapping, ignore_extra=True)
    with pytest.raises(imports.ImportFailed) as failed:
        imports.import_csv(conn, "interactions", io.BytesIO(text), source="big.csv", options=options)
    assert failed.value.errors == ["line 2500, column amount (file column 'Bedrag'): has more than 2 decimal places "
                                   "('1.255')"]
    rows[2498] = "A,purchase,2024-01-02,1.25,till x"
    text = ("Klant,Soort,Datum,Bedrag,Kassa\n" + "\n".join(rows) + "\n").encode()
    result = imports.import_csv(conn, "interactions", io.BytesIO(text), source="big.csv", options=options)
    assert (result.added, result.ignored_columns) == (3000, ["Kassa"])
    assert conn.execute("SELECT sum(amount_cents) FROM interactions").fetchone()[0] == sum(
        (n % 50 + 1) * 100 + 25 if n != 2498 else 125 for n in range(3000))
