"""The migrations (crmcli/migrations.py) as they meet files made by older crmcli: M006 fills the search
keys of every customer already there, and its trigger keeps other programs from leaving stale ones."""

import sqlite3

import pytest

from crmcli import customers, db, migrations, refs, values
from crmcli.errors import NotFound

pytestmark = pytest.mark.sqlite_only(
    "upgrades of files older crmcli wrote; a server database is made at the latest version")

PEOPLE = [
    # name, email, phone, company: the languages whose letters the folding has to know
    ("Nguyễn Thị Hương", "huong@example.vn", "+84 90 123 4567", "Phở Bắc"),
    ("Trần Minh Đức", None, "0912 345 678", None),
    ("Wałęsa Łucja", "lucja@example.pl", None, "Łódź Sp. z o.o."),
    ("Jürgen Straßmann", None, "+49 30 1234567", "Müller GmbH"),
    ("Işık Yılmaz", None, None, "İstanbul Ltd"),
    ("Søren Ærø", None, "0045 20 12 34 56", None),
]


def older_database(path, monkeypatch):
    """A database as crmcli at schema 5 left it (before M006), with the people in it, written as that
    crmcli wrote them (search_text: the NFC-casefolded text), and a person forgotten then."""
    with monkeypatch.context() as older_crmcli:
        older_crmcli.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:5])
        conn = db.connect(path)
        assert db.schema_version(conn) == 5
        assert "name_key" not in {row[1] for row in conn.execute("PRAGMA table_info(customers)")}
        with db.transaction(conn):
            for n, (name, email, phone, company) in enumerate(PEOPLE, start=1):
                conn.execute(
                    "INSERT INTO customers (id, name, email, email_key, phone, company, created_at, updated_at,"
                    " search_text) VALUES (?, ?, ?, ?, ?, ?, '2024-01-01', '2024-01-01', ?)",
                    (n, name, email, values.email_key(email) if email else None, phone, company,
                     values.fold(" ".join(p for p in (name, email, phone, company) if p))))
            conn.execute("INSERT INTO customers (id, name, created_at, updated_at) "
                         "VALUES (99, '(forgotten)', '2024-01-01', '2024-01-01')")
            conn.execute("INSERT INTO customer_history (customer_id, at, action) VALUES (99, '2024-02-01', 'forget')")
        conn.close()


@pytest.fixture
def upgraded(isolated_database, monkeypatch):
    older_database(isolated_database, monkeypatch)
    conn = db.connect(isolated_database)
    yield conn
    conn.close()


def test_m006_fills_the_keys_of_every_customer_already_there(upgraded):
    assert db.schema_version(upgraded) == migrations.latest_version() >= 6  # later migrations follow
    rows = {row["id"]: row for row in upgraded.execute("SELECT id, name_key, phone_key, search_text FROM customers")}
    assert rows[1]["name_key"] == "huong nguyen thi"
    assert rows[1]["phone_key"] == "76543210948"
    assert rows[1]["search_text"] == "nguyen thi huong huong example vn pho bac 84901234567"
    assert rows[4]["search_text"] == "jurgen strassmann muller gmbh 49301234567"
    assert tuple(rows[99]) == (99, "", None, "")  # a forgotten person gets no key back
    assert refs.missing_keys(upgraded) == []


@pytest.mark.parametrize("typed, index", [
    ("nguyen thi huong", 0), ("huong", 0), ("duc", 1), ("tran minh duc", 1), ("lucja walesa", 2),
    ("juergen", None), ("jurgen strassmann", 3), ("isik yilmaz", 4), ("soren aero", 5),
    ("+84 90 123 4567", 0), ("0912345678", 1), ("+84 912 345 678", 1), ("+45 20 12 34 56", 5),
])
def test_after_the_upgrade_old_customers_are_found_as_people_type(upgraded, typed, index):
    if index is None:
        with pytest.raises(NotFound, match="no customer named"):
            customers.resolve(upgraded, typed)
    else:
        assert customers.resolve(upgraded, typed) == index + 1


@pytest.mark.parametrize("typed, found", [
    ("lodz", ["Wałęsa Łucja"]), ("istanbul", ["Işık Yılmaz"]), ("MULLER", ["Jürgen Straßmann"]),
    ("pho", ["Nguyễn Thị Hương"]), ("example", ["Nguyễn Thị Hương", "Wałęsa Łucja"]),
])
def test_after_the_upgrade_search_finds_old_customers_by_folded_company_and_email(upgraded, typed, found):
    assert [r["name"] for r in customers.list_customers(upgraded, search=typed)] == found


def test_the_stale_keys_trigger_uses_no_function_of_crm(upgraded, isolated_database):
    """The sqlite3 shell (no crm functions registered) can still change a name; the keys are then cleared."""
    upgraded.close()
    shell = sqlite3.connect(isolated_database)
    with shell:
        shell.execute("UPDATE customers SET name = 'Lê Văn Tám', company = 'x' WHERE id = 2")
        shell.execute("UPDATE customers SET note = 'called' WHERE id = 3")  # not a key's source: keys kept
    rows = dict(shell.execute("SELECT id, name_key FROM customers WHERE id IN (2, 3)").fetchall())
    shell.close()
    assert rows == {2: None, 3: "lucja walesa"}
    conn = db.connect(isolated_database)
    assert customers.resolve(conn, "le van tam") == 2
    conn.close()
