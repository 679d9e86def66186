"""Finding customers the way people type them (crmcli/refs.py): REF by name, phone, id of a merged
record; --search on the stored folded keys; the look-alikes of a new customer; keys other programs
left out of date; and that lookups are SQLite's work (indexes, no Python per row)."""

import helpers
import pytest
from helpers import assert_error, freeze, unchanged

from crmcli import customers, db, duplicates, history, refs, values
from crmcli.errors import Conflict, NotFound


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


def add(conn, name, **kwargs):
    with db.transaction(conn):
        return customers.add(conn, name, **kwargs)


def names(rows):
    return [r["name"] for r in rows]


def search(conn, text):
    return names(customers.list_customers(conn, search=text))


# --- names ---------------------------------------------------------------------------------------------

def test_a_ref_that_matches_two_people_lists_both_and_picks_neither(conn):
    accented = add(conn, "Nguyễn Thị Hương", email="huong@example.vn")
    plain = add(conn, "Nguyen Thi Huong")
    for ref in ("huong", "HƯƠNG", "thi huong", "nguyen huong"):
        with pytest.raises(Conflict) as caught:
            customers.resolve(conn, ref)
        assert caught.value.field == "customer"
        message = caught.value.message
        assert message.startswith(f"customer: {ref!r} matches 2 customers: "), message
        assert f"{accented} Nguyễn Thị Hương <huong@example.vn>" in message
        assert f"{plain} Nguyen Thi Huong;" in message and "use the id or email" in message


def test_the_name_exactly_as_typed_wins_over_the_same_name_folded(conn):
    accented = add(conn, "Nguyễn Thị Hương")
    plain = add(conn, "Nguyen Thi Huong")
    assert customers.resolve(conn, "nguyễn thị hương") == accented
    assert customers.resolve(conn, "NGUYEN THI HUONG") == plain


def test_a_folded_name_finds_its_one_customer_in_any_word_order(conn):
    duc = add(conn, "Trần Minh Đức")
    add(conn, "Nguyễn Văn An")
    assert customers.resolve(conn, "tran minh duc") == duc
    assert customers.resolve(conn, "Duc, Tran Minh") == duc
    assert customers.resolve(conn, "duc") == duc
    assert customers.resolve(conn, "minh d") == duc  # each word begins a word of the name


def test_part_of_a_word_in_the_middle_is_not_a_name(conn):
    add(conn, "Joanna Lumley")
    with pytest.raises(NotFound, match="customer: no customer named 'anna'"):
        customers.resolve(conn, "anna")


def test_an_external_id_is_a_ref(conn):
    till = add(conn, "Ann Lee", external_id="TILL-0042")
    add(conn, "TILL-0042 Fan")  # a name that begins the same way does not compete with an exact external id
    assert customers.resolve(conn, "TILL-0042") == till


# --- phone numbers --------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["+63 917 555 0101", "639175550101", "+63-917-555-0101", "(+63) 917.555.0101",
                                   "0063 917 555 0101", "0917 555 0101", "9175550101", "+63 917 555 0101 "])
def test_a_phone_number_is_a_ref_in_any_usual_form(conn, typed):
    add(conn, "Someone Else", phone="+63 917 555 0199")
    maria = add(conn, "Maria Santos", phone="+63 917 555 0101")
    assert customers.resolve(conn, typed) == maria


def test_a_number_stored_in_national_form_is_found_by_the_international_one(conn):
    maria = add(conn, "Maria Santos", phone="0917-555-0101")
    assert customers.resolve(conn, "+63 917 555 0101") == maria


def test_a_national_number_that_ends_two_stored_numbers_is_an_error_listing_them(conn):
    manila = add(conn, "Maria Santos", phone="+63 917 555 0101")
    jakarta = add(conn, "Budi Santoso", phone="+62 917 555 0101")
    with pytest.raises(Conflict) as caught:
        customers.resolve(conn, "0917 555 0101")
    assert f"{manila} Maria Santos" in caught.value.message and f"{jakarta} Budi Santoso" in caught.value.message
    assert customers.resolve(conn, "+62 917 555 0101") == jakarta  # the whole number is exact: no ambiguity


def test_an_unknown_number_says_so_naming_it(conn):
    add(conn, "Maria Santos", phone="+63 917 555 0101")
    with pytest.raises(NotFound) as caught:
        customers.resolve(conn, "+63 917 555 0102")
    assert caught.value.message == "customer: no customer with phone number '+63 917 555 0102'"


def test_an_id_wins_over_a_phone_number_with_the_same_digits(conn):
    ann = add(conn, "Ann Lee", customer_id=1234567)
    bob = add(conn, "Bob", phone="123 4567")
    assert customers.resolve(conn, "1234567") == ann
    assert customers.resolve(conn, "123 4567") == customers.resolve(conn, "123-4567") == bob  # written as one
    with pytest.raises(NotFound, match="customer: no customer with id 7654321$"):
        customers.resolve(conn, "7654321")  # no such id, and no such number either


def test_search_finds_phone_numbers_whatever_their_punctuation(conn):
    add(conn, "Maria Santos", phone="+63 917 555 0101")
    add(conn, "Ann Lee", phone="+44 20 7946 0018")
    for typed in ("639175550101", "+63-917-555-0101", "0917 555 0101", "555 0101"):
        assert search(conn, typed) == ["Maria Santos"], typed


# --- merged and deleted ---------------------------------------------------------------------------------

def test_a_record_merged_away_says_where_it_went(conn):
    keep = add(conn, "Ann Lee", email="ann@example.com")
    middle = add(conn, "Ann  Lee")
    gone = add(conn, "A. Lee")
    with db.transaction(conn):
        duplicates.merge(conn, middle, gone)
        duplicates.merge(conn, keep, middle)
    for old, now in ((middle, keep), (gone, keep)):  # a merge of a merge leads to the one that is there
        with pytest.raises(NotFound) as caught:
            customers.resolve(conn, str(old))
        assert caught.value.message == f"customer: customer {old} was merged into {now}; use {now}"
    assert history.resolve(conn, str(gone)) == gone  # its own history is still there to read


def test_a_deleted_id_says_it_was_deleted(conn):
    gone = add(conn, "Ann Lee")
    with db.transaction(conn):
        customers.delete(conn, gone)
    with pytest.raises(NotFound, match=f"customer: customer {gone} was deleted"):
        customers.resolve(conn, str(gone))


# --- look-alikes of a new customer -----------------------------------------------------------------------

def test_look_alikes_are_the_same_phone_or_the_same_folded_name(conn):
    an = add(conn, "Nguyễn Văn An", email="an@example.vn", phone="+84 90 123 4567")
    add(conn, "Someone Else", phone="+84 90 999 9999")
    new = add(conn, "an nguyen van", phone="090 123 4567")
    assert customers.look_alikes(conn, new) == [
        {"id": an, "name": "Nguyễn Văn An", "email": "an@example.vn", "reason": "same phone number; same name"}]
    other = add(conn, "Bob Other", phone="+84 91 000 0000")
    assert customers.look_alikes(conn, other) == []


def test_forgotten_people_are_nobodys_look_alike(conn):
    first = add(conn, "Ann Lee", phone="+44 20 7946 0018")
    with db.transaction(conn):
        history.forget(conn, first)
    assert customers.look_alikes(conn, add(conn, "Ann Lee", phone="+44 20 7946 0018")) == []
    assert customers.look_alikes(conn, add(conn, "forgotten")) == []


def test_customer_add_warns_about_a_look_alike_on_stderr_and_still_adds(crm, conn):
    an = add(conn, "Nguyễn Văn An", email="an@example.vn", phone="+84 90 123 4567")
    result = crm("customer", "add", "An Nguyen Van", "--phone", "090-123-4567")
    assert result.exit_code == 0, result.stderr
    new = int(result.stdout)  # stdout is the new id alone: the warning is for the person, on stderr
    assert result.stderr.strip() == (f"note: customer {new} may be the same person as {an} Nguyễn Văn An "
                                     "<an@example.vn> (same phone number; same name); see crm customer duplicates")
    assert customers.get(conn, new)["name"] == "An Nguyen Van"
    quiet = crm("customer", "add", "Somebody Else", "--phone", "+84 91 000 0000")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_an_ambiguous_ref_on_the_command_line_lists_both_and_changes_nothing(crm, conn, isolated_database):
    accented = add(conn, "Nguyễn Thị Hương", email="huong@example.vn")
    plain = add(conn, "Nguyen Thi Huong")
    with unchanged(isolated_database):
        result = crm("customer", "edit", "huong", "--note", "called")
    assert_error(result, 1, "customer: 'huong' matches 2 customers: ",
                 f"{accented} Nguyễn Thị Hương <huong@example.vn>", f"{plain} Nguyen Thi Huong", "use the id or email")


def test_a_merged_id_on_the_command_line_says_where_it_went(crm, conn, isolated_database):
    keep, gone = add(conn, "Ann Lee"), add(conn, "Ann Lee")
    assert crm("customer", "merge", str(keep), str(gone), "--yes").exit_code == 0
    with unchanged(isolated_database):
        result = crm("interaction", "add", str(gone), "--type", "call")
    assert_error(result, 1, f"customer: customer {gone} was merged into {keep}; use {keep}")


# --- keys changed behind crm's back ----------------------------------------------------------------------

def other_program(isolated_database, sql, params=()):
    """The sqlite3 shell or psql, say: no function of crm's, no keys computed."""
    raw = helpers.other_program(isolated_database)
    raw.execute(sql, params)
    raw.close()


def test_a_name_changed_by_another_program_is_found_by_its_new_name_at_once(conn, isolated_database):
    ann = add(conn, "Ann Lee", phone="+44 20 7946 0018")
    other_program(isolated_database, "UPDATE customers SET name = 'Đặng Thu Thảo', phone = NULL WHERE id = ?", (ann,))
    assert conn.execute("SELECT name_key, phone_key, search_text FROM customers WHERE id = ?",
                        (ann,)).fetchone()[:] == (None, None, "")  # the trigger cleared what it made stale
    assert customers.resolve(conn, "dang thu thao") == ann
    assert search(conn, "thao") == ["Đặng Thu Thảo"]
    assert search(conn, "ann") == [] and search(conn, "79460018") == []
    with pytest.raises(NotFound):
        customers.resolve(conn, "ann lee")
    add(conn, "Bob")  # crm's next write stores the keys
    assert conn.execute("SELECT name_key FROM customers WHERE id = ?", (ann,)).fetchone()[0] == "dang thao thu"


def test_a_customer_inserted_by_another_program_is_found(conn, isolated_database):
    add(conn, "Ann Lee")
    other_program(isolated_database, "INSERT INTO customers (id, name, phone, created_at, updated_at) "
                  "VALUES (50, 'Zoë Ångström', '+46 70 123 45 67', '2024-01-01', '2024-01-01')")
    assert customers.resolve(conn, "zoe angstrom") == 50
    assert customers.resolve(conn, "070-123 45 67") == 50
    assert search(conn, "angstrom") == ["Zoë Ångström"]
    with db.transaction(conn):
        assert refs.refill(conn) == 1
    assert refs.missing_keys(conn) == []


# --- the work is SQLite's ---------------------------------------------------------------------------------

def plan(conn, sql, params):
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


@pytest.mark.sqlite_only("reads SQLite's query plans (EXPLAIN QUERY PLAN); a server plans by its own statistics")
def test_every_ref_lookup_is_an_index_search(conn):
    add(conn, "Ann Lee", phone="+44 20 7946 0018")
    key = values.phone_key("+44 20 7946 0018")
    for condition, params in (("name_key = ?", ["ann lee"]), ("phone_key = ?", [key]),
                              ("(phone_key > ? AND phone_key < ?) OR phone_key IN (?, ?)",
                               [key, key + ":", key[:7], key[:8]])):
        found = plan(conn, f"SELECT id FROM customers WHERE name_key IS NOT NULL AND ({condition})", params)
        assert "SEARCH customers USING" in found and "SCAN" not in found, (condition, found)
    found = plan(conn, "SELECT id, name, email, phone, company FROM customers WHERE name_key IS NULL", [])
    assert found == "SEARCH customers USING INDEX customers_name_key (name_key=?)"  # rows with keys missing


def test_search_and_ref_run_no_python_per_customer(conn, monkeypatch):
    with db.transaction(conn):
        for i in range(300):
            customers.add(conn, f"Nguyễn Văn {i}", phone=f"+84 90 {i:07d}")
    calls = []
    for name in ("search_fold", "name_key", "phone_key", "phone_digits", "customer_keys", "fold"):
        real = getattr(values, name)
        monkeypatch.setattr(values, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    assert len(search(conn, "nguyen van 12")) == 13  # 12, 112, 120-129, 212
    assert customers.resolve(conn, "+84 90 0000299") == 300
    assert customers.resolve(conn, "nguyen van 42") == 43
    assert len(calls) < 10, calls  # a handful for the query text, none per customer


def test_a_ref_of_thousands_of_digits_is_simply_not_found(conn):
    add(conn, "Ann Lee", phone="+44 20 7946 0018")
    with pytest.raises(NotFound, match="no customer with id"):
        customers.resolve(conn, "7" * 50_000)
    with pytest.raises(NotFound, match="no customer with phone number"):
        customers.resolve(conn, "+" + "7 " * 50_000)
    with pytest.raises(NotFound, match="no customer with id"):
        history.resolve(conn, "7" * 50_000)


def test_imported_customers_get_their_keys_and_an_update_renews_them(crm, conn, tmp_path):
    first = tmp_path / "first.csv"
    first.write_text("name,email,phone\nTrần Minh Đức,duc@example.vn,0912 345 678\n", encoding="utf-8")
    assert crm("customer", "import", first).exit_code == 0
    duc = customers.resolve(conn, "tran minh duc")
    assert customers.resolve(conn, "+84 912 345 678") == duc
    second = tmp_path / "second.csv"
    second.write_text("name,email,phone\nTrần Thị Thu,duc@example.vn,0913 000 111\n", encoding="utf-8")
    assert crm("customer", "import", second, "--on-conflict", "update").exit_code == 0
    assert customers.resolve(conn, "tran thi thu") == customers.resolve(conn, "0913 000 111") == duc
    assert search(conn, "minh") == [] and refs.missing_keys(conn) == []
