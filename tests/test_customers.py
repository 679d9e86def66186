"""The customers core, called directly: add, resolve REF, search, edit, tags, delete."""

from decimal import Decimal

import pytest
from helpers import db_dump, freeze

from crmcli import customers, db, feedback, interactions
from crmcli.errors import Conflict, InvalidInput, NotFound

# The same tests on an SQLite file and on a PostgreSQL server (tests/conftest.py).
pytestmark = pytest.mark.both_backends


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


def add(conn, name, **kwargs):
    with db.transaction(conn):
        return customers.add(conn, name, **kwargs)


def names(rows):
    return [r["name"] for r in rows]


# --- add ---------------------------------------------------------------------------------------------

def test_add_stores_cleaned_values(conn):
    cid = add(conn, "  Nguye\u0302\u0303n Văn An ", email=" an@example.vn ", phone=" +84 90 123 4567 ",
              company="Phở Bắc", tags=["VIP", "local", "vip"], note="  likes pho ", external_id="T-1",
              since="2023-01-05")
    record = customers.get(conn, cid)
    assert record["name"] == "Nguyễn Văn An"  # stripped and NFC
    assert record["email"] == "an@example.vn"
    assert record["phone"] == "+84 90 123 4567"
    assert record["company"] == "Phở Bắc"
    assert record["tags"] == ["local", "vip"]  # lower case, no duplicates, sorted
    assert record["note"] == "likes pho"
    assert record["external_id"] == "T-1"
    assert record["since"] == "2023-01-05"
    assert record["created_at"] == record["updated_at"] == "2024-06-15T12:00:00"


def test_add_defaults_since_to_today_and_empty_options_to_none(conn):
    cid = add(conn, "Ann", email="", phone="  ", note="")
    record = customers.get(conn, cid)
    assert record["since"] == "2024-06-15"
    assert record["email"] is None and record["phone"] is None and record["note"] is None
    assert record["tags"] == []


@pytest.mark.parametrize("name, problem", [("", "must not be empty"), ("   ", "must not be empty"),
                                           ("\t\n", "must not be empty"), (None, "is required")])
def test_a_name_is_required(conn, isolated_database, name, problem):
    before = db_dump(isolated_database)
    with pytest.raises(InvalidInput, match=f"name: {problem}"):
        add(conn, name)
    assert db_dump(isolated_database) == before


@pytest.mark.parametrize("kwargs, message", [
    ({"email": "not-an-email"}, "email: is not a valid email address ('not-an-email')"),
    ({"tags": ["a,b"]}, "tag: must not contain ',' or ';' ('a,b')"),
    ({"tags": [" "]}, "tag: must not be empty"),
    ({"since": "2024-02-30"}, "since: is not a date"),
])
def test_add_rejects_bad_values_and_writes_nothing(conn, isolated_database, kwargs, message):
    before = db_dump(isolated_database)
    with pytest.raises(InvalidInput) as caught:
        add(conn, "Ann", **kwargs)
    assert message in caught.value.message
    assert db_dump(isolated_database) == before


def test_email_is_unique_without_regard_to_case(conn, isolated_database):
    first = add(conn, "Ann", email="Ann@Example.com")
    before = db_dump(isolated_database)
    with pytest.raises(Conflict) as caught:
        add(conn, "Another Ann", email="ann@EXAMPLE.COM")
    assert "email" in caught.value.message and "ann@EXAMPLE.COM" in caught.value.message
    assert f"customer {first}" in caught.value.message
    assert db_dump(isolated_database) == before


def test_external_id_is_unique(conn):
    add(conn, "Ann", external_id="T-1")
    with pytest.raises(Conflict, match="external_id: 'T-1'"):
        add(conn, "Bob", external_id="T-1")


# --- REF: id, email, name -------------------------------------------------------------------------

@pytest.fixture
def people(conn):
    return {
        "an": add(conn, "Nguyễn Văn An", email="an@example.vn"),
        "binh": add(conn, "Nguyễn Thị Bình", email="binh@example.vn"),
        "ann": add(conn, "Ann Lee"),
        "anna": add(conn, "Ann Lee Tan"),
        "maria": add(conn, "Maria Santos", email="Maria.Santos@Example.PH", company="Sari-Sari"),
    }


def test_resolve_by_id(conn, people):
    assert customers.resolve(conn, str(people["binh"])) == people["binh"]
    assert customers.resolve(conn, f" {people['binh']} ") == people["binh"]


def test_resolve_by_email_in_any_case(conn, people):
    assert customers.resolve(conn, "maria.santos@example.ph") == people["maria"]
    assert customers.resolve(conn, "MARIA.SANTOS@EXAMPLE.PH") == people["maria"]


def test_resolve_by_name_any_case_exact_match_wins(conn, people):
    assert customers.resolve(conn, "maria santos") == people["maria"]
    assert customers.resolve(conn, "NGUYỄN VĂN AN") == people["an"]
    assert customers.resolve(conn, "Bình") == people["binh"]  # a unique part of a name
    assert customers.resolve(conn, "ann lee") == people["ann"]  # exact, though "Ann Lee Tan" contains it


def test_an_ambiguous_name_is_an_error_listing_the_candidates_with_ids(conn, people):
    with pytest.raises(Conflict) as caught:
        customers.resolve(conn, "nguyễn")
    message = caught.value.message
    assert "matches 2 customers" in message
    assert f"{people['an']} Nguyễn Văn An <an@example.vn>" in message
    assert f"{people['binh']} Nguyễn Thị Bình <binh@example.vn>" in message
    assert "use the id or email" in message


@pytest.mark.parametrize("ref, message", [
    ("999", "no customer with id 999"),
    ("99999999999999999999", "no customer with id 99999999999999999999"),  # beyond SQLite's integers
    ("nobody@example.com", "no customer with email 'nobody@example.com'"),
    ("Zed", "no customer named 'Zed'"),
    ("Sari-Sari", "no customer named 'Sari-Sari'"),  # a company is not a name
])
def test_resolve_not_found(conn, people, ref, message):
    with pytest.raises(NotFound) as caught:
        customers.resolve(conn, ref)
    assert caught.value.message == f"customer: {message}"


def test_resolve_empty_ref(conn, people):
    with pytest.raises(InvalidInput, match="customer: is empty"):
        customers.resolve(conn, "  ")


# --- list and search --------------------------------------------------------------------------------

def test_search_ignores_case_and_accents_and_word_order(conn, people):
    both = ["Nguyễn Văn An", "Nguyễn Thị Bình"]
    for typed in ("nguyễn", "NGUYỄN", "Nguye\u0302\u0303n", "nguyen", "NGUYEN"):  # NFD too
        assert names(customers.list_customers(conn, search=typed)) == both, typed
    assert names(customers.list_customers(conn, search="nguyen van")) == ["Nguyễn Văn An"]
    assert names(customers.list_customers(conn, search="an  VAN")) == ["Nguyễn Văn An"]  # any order, any spacing
    assert names(customers.list_customers(conn, search="binh")) == ["Nguyễn Thị Bình"]
    assert names(customers.list_customers(conn, search="nguyen zed")) == []  # every word must be there


def test_search_looks_in_email_phone_and_company(conn, people):
    assert names(customers.list_customers(conn, search="EXAMPLE.PH")) == ["Maria Santos"]
    assert names(customers.list_customers(conn, search="sari-sari")) == ["Maria Santos"]


def test_list_by_tag_and_limit(conn):
    add(conn, "Ann", tags=["vip"])
    add(conn, "Bob")
    add(conn, "Cy", tags=["VIP", "local"])
    assert names(customers.list_customers(conn, tag="vip")) == ["Ann", "Cy"]
    assert names(customers.list_customers(conn, tag=" VIP ")) == ["Ann", "Cy"]
    assert names(customers.list_customers(conn, limit=2)) == ["Ann", "Bob"]
    assert names(customers.list_customers(conn, limit=None)) == ["Ann", "Bob", "Cy"]
    assert customers.list_customers(conn, tag="nope") == []


def test_list_rows_have_the_documented_columns_and_exact_revenue(conn):
    cid = add(conn, "Ann", tags=["b", "a"])
    with db.transaction(conn):
        interactions.add(conn, cid, "purchase", at="2024-01-01T09:00", amount="0.1")
        interactions.add(conn, cid, "purchase", at="2024-02-01T09:00", amount="0.2")
        interactions.add(conn, cid, "refund", at="2024-02-02", amount="0.05")
        feedback.add(conn, cid, "complaint", at="2024-02-03")
    [row] = customers.list_customers(conn)
    assert set(row) == set(customers.LIST_COLUMNS)
    assert row["tags"] == ["a", "b"]
    assert row["purchases"] == 2
    assert row["revenue"] == Decimal("0.25") and str(row["revenue"]) == "0.25"
    assert row["last_purchase"] == "2024-02-01"
    assert row["open_complaints"] == 1


# --- edit ---------------------------------------------------------------------------------------------

def edit(conn, cid, **kwargs):
    with db.transaction(conn):
        return customers.edit(conn, cid, **kwargs)


def test_edit_changes_fields_and_search(conn):
    cid = add(conn, "Ann", email="ann@example.com", phone="1", company="Acme", note="n")
    record = edit(conn, cid, name="Trần Thị Ánh", company="Bánh Mì Co")
    assert record["name"] == "Trần Thị Ánh" and record["company"] == "Bánh Mì Co"
    assert record["email"] == "ann@example.com"  # untouched
    assert names(customers.list_customers(conn, search="ÁNH")) == ["Trần Thị Ánh"]
    assert names(customers.list_customers(conn, search="bánh mì")) == ["Trần Thị Ánh"]
    assert customers.list_customers(conn, search="acme") == []
    assert names(customers.list_customers(conn, search="ann@")) == ["Trần Thị Ánh"]


def test_edit_clears_optional_fields_with_empty_text(conn):
    cid = add(conn, "Ann", email="ann@example.com", phone="1", company="Acme", note="n")
    record = edit(conn, cid, email="", phone="", company="", note="")
    assert (record["email"], record["phone"], record["company"], record["note"]) == (None, None, None, None)
    assert customers.list_customers(conn, search="acme") == []
    # The email is free again.
    add(conn, "Bob", email="ANN@example.com")


def test_edit_email_stays_unique_without_regard_to_case(conn, isolated_database):
    add(conn, "Ann", email="ann@example.com")
    bob = add(conn, "Bob", email="bob@example.com")
    before = db_dump(isolated_database)
    with pytest.raises(Conflict, match="email: 'ANN@EXAMPLE.COM' already belongs to customer 1"):
        edit(conn, bob, email="ANN@EXAMPLE.COM")
    assert db_dump(isolated_database) == before
    # Changing the case of one's own email is not a conflict.
    assert edit(conn, bob, email="Bob@Example.com")["email"] == "Bob@Example.com"


@pytest.mark.parametrize("kwargs, message", [
    ({"name": ""}, "name: must not be empty"),
    ({"name": "   "}, "name: must not be empty"),
    ({"email": "nope"}, "email: is not a valid email address ('nope')"),
    ({}, "nothing to change"),
    ({"add_tags": ["x;y"]}, "add-tag: must not contain"),
    ({"name": "New", "add_tags": [""]}, "add-tag: must not be empty"),
])
def test_edit_rejects_bad_values_and_changes_nothing(conn, isolated_database, kwargs, message):
    cid = add(conn, "Ann", tags=["vip"])
    before = db_dump(isolated_database)
    with pytest.raises(InvalidInput) as caught:
        edit(conn, cid, **kwargs)
    assert message in caught.value.message
    assert db_dump(isolated_database) == before


def test_tags_add_and_remove(conn):
    cid = add(conn, "Ann", tags=["vip", "local"])
    assert edit(conn, cid, add_tags=["Online", "vip"])["tags"] == ["local", "online", "vip"]
    assert edit(conn, cid, remove_tags=["VIP", "not-there"])["tags"] == ["local", "online"]
    assert edit(conn, cid, add_tags=["new"], remove_tags=["local", "online"])["tags"] == ["new"]
    assert names(customers.list_customers(conn, tag="new")) == ["Ann"]
    assert customers.list_customers(conn, tag="vip") == []


def test_edit_unknown_customer(conn):
    with pytest.raises(NotFound, match="no customer with id 42"):
        edit(conn, 42, name="X")


# --- delete ---------------------------------------------------------------------------------------------

def test_delete_cascades_to_interactions_feedback_and_tags(conn):
    ann = add(conn, "Ann", tags=["vip", "local"])
    bob = add(conn, "Bob", tags=["vip"])
    with db.transaction(conn):
        for who in (ann, bob):
            interactions.add(conn, who, "purchase", at="2024-01-01", amount="5")
            interactions.add(conn, who, "call", at="2024-01-02")
            feedback.add(conn, who, "complaint", at="2024-01-03")
        removed = customers.delete(conn, ann)
    assert removed == {"interactions": 2, "feedback": 1}
    count = lambda table: conn.execute(f"SELECT count(*), count(DISTINCT customer_id) FROM {table}").fetchone()  # noqa: E731
    assert tuple(count("interactions")) == (2, 1)
    assert tuple(count("feedback")) == (1, 1)
    assert tuple(count("customer_tags")) == (1, 1)
    assert conn.execute("SELECT DISTINCT customer_id FROM interactions").fetchone()[0] == bob
    with pytest.raises(NotFound):
        customers.get(conn, ann)


def test_delete_unknown_customer(conn):
    with pytest.raises(NotFound, match="no customer with id 7"), db.transaction(conn):
        customers.delete(conn, 7)


# --- profile (what `customer show` prints) ---------------------------------------------------------------

def test_profile(conn):
    cid = add(conn, "Ann", tags=["vip"])
    with db.transaction(conn):
        interactions.add(conn, cid, "purchase", at="2024-01-01T10:00", amount="10")
        interactions.add(conn, cid, "purchase", at="2024-03-01T10:00", amount="5.01")
        interactions.add(conn, cid, "refund", at="2024-03-02", amount="1")
        interactions.add(conn, cid, "call", at="2024-04-01", by="Linh", note="follow-up")
        open_id = feedback.add(conn, cid, "complaint", at="2024-05-01", category="delivery", note="late")
        closed = feedback.add(conn, cid, "complaint", at="2024-05-02")
        feedback.resolve(conn, closed)
    record = customers.profile(conn, cid, timeline_limit=3)
    assert record["customer"]["name"] == "Ann" and record["customer"]["tags"] == ["vip"]
    stats = record["stats"]
    assert stats["purchases"] == 2
    assert stats["revenue"] == Decimal("14.01")
    assert stats["average_purchase"] == Decimal("7.50")  # (10 + 5.01) / 2 rounded to the cent
    assert stats["first_purchase"] == "2024-01-01" and stats["last_purchase"] == "2024-03-01"
    assert [c["id"] for c in record["open_complaints"]] == [open_id]
    assert [(e["at"], e["type"]) for e in record["timeline"]] == [
        ("2024-05-02", "complaint"), ("2024-05-01", "complaint"), ("2024-04-01", "call")]


def test_profile_of_a_customer_without_purchases(conn):
    cid = add(conn, "Ann")
    stats = customers.profile(conn, cid)["stats"]
    assert stats["purchases"] == 0 and stats["revenue"] == Decimal("0.00") and stats["average_purchase"] is None


def test_email_case_is_ignored_in_ascii_and_in_the_domain_only(conn):
    """Mail systems fold A-Z in the local part and compare the rest exactly; the domain is IDNA's."""
    with db.transaction(conn):
        elise = customers.add(conn, "Élise", email="Élise@BÜCHER.example")
    with pytest.raises(Conflict, match="already belongs to customer"), db.transaction(conn):
        customers.add(conn, "Other Élise", email="ÉLISE@bücher.EXAMPLE")
    assert customers.resolve(conn, "ÉLISE@bücher.example") == elise
    assert customers.resolve(conn, "Élise@xn--bcher-kva.example") == elise
    with db.transaction(conn):  # É and é are two letters to a mail server, so two people
        other = customers.add(conn, "Another Élise", email="élise@bücher.example")
    assert customers.resolve(conn, "élise@BÜCHER.example") == other


@pytest.mark.parametrize("first, second", [("info@strasse.de", "info@straße.de"),
                                           ("kate@example.com", "\u212aate@example.com"),
                                           ("ann@example.com", "\u0430nn@example.com")])
def test_look_alike_emails_are_two_customers_found_apart(conn, first, second):
    with db.transaction(conn):
        a = customers.add(conn, "A", email=first)
        b = customers.add(conn, "B", email=second)
    assert (customers.resolve(conn, first.upper()), customers.resolve(conn, second)) == (a, b)
    assert customers.get(conn, b)["email"] == second  # stored as typed: the Kelvin sign stays one
    with db.transaction(conn):
        customers.edit(conn, a, email=first.upper())  # one's own email in other case: no conflict
    with pytest.raises(Conflict, match=f"already belongs to customer {b}"), db.transaction(conn):
        customers.edit(conn, a, email=second)
