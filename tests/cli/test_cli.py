"""The CLI's wiring: what each command prints, its exit codes, and its messages (code and message together)."""

import csv
import io
import json

import pytest
from helpers import assert_error, db_dump, file_digest, freeze, unchanged

from crmcli import customers, db, feedback, interactions, migrations


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)  # 2024-06-15T12:00:00, also inside the commands (same process)


@pytest.fixture
def scores_if_available(monkeypatch):
    """`customer show` asks the analytics for scores; while that module is still being written, show none."""
    try:
        import crmcli.analytics.report  # noqa: F401
    except ImportError:
        monkeypatch.setattr("crmcli.cli.views.customer_scores", lambda conn, customer_id: None)


@pytest.fixture
def shop(conn):
    """Customers 1-4, two interactions, feedback 1 (open complaint), 2 (compliment), 3 (resolved complaint)."""
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", email="ann@example.com", tags=["vip"])
        bob = customers.add(conn, "Bob Cruz", email="bob@example.com")
        customers.add(conn, "Nguyễn Văn An", email="an@example.vn")
        customers.add(conn, "Nguyễn Thị Bình")
        interactions.add(conn, ann, "purchase", at="2024-05-01T10:00", amount="100", by="Linh")
        interactions.add(conn, bob, "call", at="2024-05-02", note="asked about opening hours")
        feedback.add(conn, ann, "complaint", at="2024-06-01", category="delivery", note="late")
        feedback.add(conn, bob, "compliment", at="2024-06-02", rating=5)
        resolved = feedback.add(conn, bob, "complaint", at="2024-06-03")
        feedback.resolve(conn, resolved, note="apologised")
    return conn


def csv_rows(result):
    return list(csv.DictReader(io.StringIO(result.stdout_bytes.decode(), newline="")))


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


# --- every error path: exit code, message naming field and value, database unchanged -----------------------

ERRORS = [
    # customer add
    (["customer", "add", "Zed", "--email", "bad@"], 1, ["email", "'bad@'", "not a valid email"]),
    (["customer", "add", "Zed", "--email", "ANN@example.com"], 1, ["email", "'ANN@example.com'", "customer 1"]),
    (["customer", "add", "  "], 1, ["name: must not be empty", "'  '"]),
    (["customer", "add", ""], 1, ["name: must not be empty"]),
    (["customer", "add", "Zed", "--since", "2024-02-30"], 1, ["since", "'2024-02-30'"]),
    (["customer", "add", "Zed", "--tag", "a,b"], 1, ["tag", "'a,b'"]),
    (["customer", "add"], 2, ["crm: error: missing argument NAME", "Try 'crm customer add --help'."]),
    (["customer", "add", "Zed", "--colour", "red"], 2, ["crm: error: no such option: --colour"]),
    # customer list
    (["customer", "list", "--limit", "-1"], 2, ["--limit"]),
    (["customer", "list", "--format", "xml"], 2, ["xml"]),
    (["customer", "list", "--output", "{missing}/out.csv"], 1, ["output", "missing"]),
    (["customer", "list", "--output", "{missing}/../out.csv"], 1, ["output", "missing"]),
    # customer show
    (["customer", "show", "999"], 1, ["customer: no customer with id 999"]),
    (["customer", "show", "99999999999999999999"], 1, ["no customer with id 99999999999999999999"]),
    (["customer", "show", "nobody@example.com"], 1, ["no customer with email 'nobody@example.com'"]),
    (["customer", "show", "nguyễn"], 1, ["'nguyễn' matches 2 customers", "3 Nguyễn Văn An <an@example.vn>",
                                         "4 Nguyễn Thị Bình"]),
    (["customer", "show", "nguyen"], 1, ["'nguyen' matches 2 customers"]),  # accents are optional
    (["customer", "show", "nguyen zed"], 1, ["no customer named 'nguyen zed'"]),
    (["customer", "show"], 2, ["crm: error: missing argument REF"]),
    # customer edit
    (["customer", "edit", "1", "--email", "BOB@example.com"], 1, ["email", "'BOB@example.com'", "customer 2"]),
    (["customer", "edit", "1", "--email", "nope"], 1, ["email", "'nope'"]),
    (["customer", "edit", "1", "--name", ""], 1, ["name: must not be empty"]),
    (["customer", "edit", "1", "--name", "   "], 1, ["name: must not be empty", "'   '"]),
    (["customer", "edit", "1"], 1, ["nothing to change"]),
    (["customer", "edit", "42", "--name", "X"], 1, ["no customer with id 42"]),
    (["customer", "edit", "Nguyễn", "--name", "X"], 1, ["matches 2 customers"]),
    (["customer", "edit", "1", "--add-tag", "a;b"], 1, ["add-tag", "'a;b'"]),
    # customer delete
    (["customer", "delete", "1"], 1, ["not on a terminal", "--yes"]),
    (["customer", "delete", "42", "--yes"], 1, ["no customer with id 42"]),
    (["customer", "delete", "nguyễn", "--yes"], 1, ["matches 2 customers"]),
    # interaction add
    (["interaction", "add", "1", "--type", "purchase"], 1, ["amount: is required for a purchase"]),
    (["interaction", "add", "1", "--type", "refund"], 1, ["amount: is required for a refund"]),
    (["interaction", "add", "1", "--type", "call", "--amount", "5"], 1, ["amount", "'5'", "not for a call"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount", "12.345"], 1, ["amount", "'12.345'", "decimal"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount=-5"], 1, ["amount", "'-5'", "negative"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount", "abc"], 1, ["amount", "'abc'", "not a number"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount", "NaN"], 1, ["amount", "'NaN'"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount", "Infinity"], 1, ["amount", "'Infinity'"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount", "1e999999999"], 1,
     ["amount", "is more than 1000000000.00"]),
    (["interaction", "add", "1", "--type", "purchase", "--amount", "5", "--at", "2024-06-16"], 1,
     ["at", "'2024-06-16'", "future"]),
    (["interaction", "add", "1", "--type", "call", "--at", "13/05/2024"], 1, ["at", "'13/05/2024'", "not a date"]),
    (["interaction", "add", "1", "--type", "call", "--at", "2024-02-30"], 1, ["at", "'2024-02-30'"]),
    (["interaction", "add", "Zed", "--type", "call"], 1, ["no customer named 'Zed'"]),
    (["interaction", "add", "nguyễn", "--type", "call"], 1, ["matches 2 customers"]),
    (["interaction", "add", "1", "--type", "sale"], 2, ["sale"]),
    (["interaction", "add", "1"], 2, ["--type"]),
    # interaction list
    (["interaction", "list", "--since", "10/03/2024"], 1, ["since", "'10/03/2024'"]),
    (["interaction", "list", "--until", "2024-02-30"], 1, ["until", "'2024-02-30'"]),
    (["interaction", "list", "--since", "2024-05-02", "--until", "2024-05-01"], 1, ["since", "'2024-05-02'"]),
    (["interaction", "list", "Zed"], 1, ["no customer named 'Zed'"]),
    (["interaction", "list", "--type", "sale"], 2, ["sale"]),
    # feedback add
    (["feedback", "add", "1", "--type", "complaint", "--rating", "6"], 1, ["rating", "'6'"]),
    (["feedback", "add", "1", "--type", "complaint", "--rating", "bad"], 1, ["rating", "'bad'"]),
    (["feedback", "add", "1", "--type", "compliment", "--at", "2024-06-16"], 1, ["at", "'2024-06-16'", "future"]),
    (["feedback", "add", "Zed", "--type", "complaint"], 1, ["no customer named 'Zed'"]),
    (["feedback", "add", "1", "--type", "praise"], 2, ["praise"]),
    # feedback list
    (["feedback", "list", "--customer", "Zed"], 1, ["no customer named 'Zed'"]),
    (["feedback", "list", "--type", "praise"], 2, ["praise"]),
    # feedback resolve
    (["feedback", "resolve", "3"], 1, ["complaint 3 was already resolved"]),
    (["feedback", "resolve", "2"], 1, ["feedback", "compliment", "only complaints", "(2)"]),
    (["feedback", "resolve", "999"], 1, ["feedback: no feedback with id 999"]),
    (["feedback", "resolve", "99999999999999999999"], 1, ["no feedback with id 99999999999999999999"]),
    (["feedback", "resolve", "x"], 2, ["crm: error: ID: ", "('x')"]),
    (["feedback", "resolve"], 2, ["crm: error: missing argument ID"]),
    # demo, info, the root
    (["demo"], 1, ["already holds 4 customers", "--force"]),
    (["demo", "--customers", "0"], 2, ["--customers"]),
    (["info", "--format", "xml"], 2, ["xml"]),
    (["info", "--output", "{missing}/info.json"], 1, ["output", "missing"]),
    (["nonsense"], 2, ["crm: error: no such command 'nonsense'", "Try 'crm --help'."]),
]


@pytest.mark.parametrize("args, code, fragments", ERRORS, ids=[" ".join(e[0])[:60] for e in ERRORS])
def test_error_paths(crm, shop, isolated_database, tmp_path, args, code, fragments):
    args = [a.replace("{missing}", str(tmp_path / "missing")) for a in args]
    with unchanged(isolated_database):
        result = crm(*args)
    assert_error(result, code, *fragments)
    assert not (tmp_path / "missing").exists()


COMMANDS = [
    ["customer", "add", "Zed"], ["customer", "list"], ["customer", "show", "1"],
    ["customer", "edit", "1", "--name", "Zed"], ["customer", "delete", "1", "--yes"],
    ["interaction", "add", "1", "--type", "call"], ["interaction", "list"],
    ["feedback", "add", "1", "--type", "complaint"], ["feedback", "list"], ["feedback", "resolve", "1"],
    ["demo"], ["info"],
]


@pytest.mark.sqlite_only("a file's own bytes; a server database of another program: tests/postgres/test_server.py")
@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c[:2]) for c in COMMANDS])
def test_every_command_refuses_a_file_that_is_not_a_crmcli_database(crm, isolated_database, args):
    isolated_database.write_bytes(b"id;name\n1;Ann\n")
    before = file_digest(isolated_database)
    assert_error(crm(*args), 3, "not a crmcli database", str(isolated_database))
    assert file_digest(isolated_database) == before


# --- customer --------------------------------------------------------------------------------------------------

def test_customer_add_prints_the_new_id_and_nothing_else(crm, shop):
    result = ok(crm("customer", "add", "Maria Santos", "--email", "maria@example.ph", "--phone", "+63 2 555",
                    "--company", "Sari-Sari", "--tag", "vip", "--tag", "Local", "--note", "prefers SMS",
                    "--external-id", "POS-9", "--since", "2022-03-01"))
    assert result.stdout == "5\n"
    assert result.stderr == ""
    record = customers.get(shop, 5)
    assert record == {
        "id": 5, "name": "Maria Santos", "email": "maria@example.ph", "phone": "+63 2 555", "company": "Sari-Sari",
        "note": "prefers SMS", "external_id": "POS-9", "since": "2022-03-01", "created_at": "2024-06-15T12:00:00",
        "updated_at": "2024-06-15T12:00:00", "tags": ["local", "vip"],
    }


def test_first_use_creates_the_database_and_ids_count_up(crm, isolated_database, backend):
    if backend == "sqlite":  # a server's database is made by createdb; crm makes its tables at first use
        assert not isolated_database.exists()
    assert ok(crm("customer", "add", "Ann")).stdout == "1\n"
    assert ok(crm("customer", "add", "Bob")).stdout == "2\n"
    assert [r["name"] for r in csv_rows(crm("customer", "list"))] == ["Ann", "Bob"]


def test_customer_list_search_and_tag(crm, shop):
    for typed in ("nguyễn", "NGUYỄN", "Nguye\u0302\u0303n", "nguyen"):
        assert [r["name"] for r in csv_rows(ok(crm("customer", "list", "--search", typed)))] == [
            "Nguyễn Văn An", "Nguyễn Thị Bình"]
    result = ok(crm("customer", "list", "--search", "nguyen zed"))
    assert result.stdout_bytes.decode() == (
        "id,name,email,phone,company,tags,since,purchases,revenue,last_purchase,open_complaints,purchase_records\n")
    assert [r["name"] for r in csv_rows(ok(crm("customer", "list", "--tag", "VIP")))] == ["Ann Lee"]


def test_customer_list_columns_and_values(crm, shop):
    ann = csv_rows(ok(crm("customer", "list")))[0]
    assert ann == {"id": "1", "name": "Ann Lee", "email": "ann@example.com", "phone": "", "company": "",
                   "tags": "vip", "since": "2024-06-15", "purchases": "1", "revenue": "100.00",
                   "last_purchase": "2024-05-01", "open_complaints": "1", "purchase_records": "1"}


def test_limit_zero_means_no_limit(crm, conn):
    with db.transaction(conn):
        for n in range(105):
            customers.add(conn, f"Customer {n:03}")
            interactions.add(conn, n + 1, "call", at="2024-01-01")
            feedback.add(conn, n + 1, "suggestion", at="2024-01-01")
    for noun in ("customer", "interaction", "feedback"):
        assert len(csv_rows(ok(crm(noun, "list")))) == 105  # machine formats are complete by default
        assert len(csv_rows(ok(crm(noun, "list", "--limit", "3")))) == 3
        assert len(csv_rows(ok(crm(noun, "list", "--limit", "0")))) == 105
        assert len(json.loads(ok(crm(noun, "list", "--format", "json", "--limit", "0")).stdout)) == 105
    table = ok(crm("customer", "list", "--format", "table"))
    assert "Customer 099" in table.stdout and "Customer 100" not in table.stdout
    assert "--limit 0" in table.stderr
    table = ok(crm("customer", "list", "--format", "table", "--limit", "0"))
    assert "Customer 104" in table.stdout and table.stderr == ""
    everything = ok(crm("customer", "list", "--limit", "99999999999999999999"))
    assert len(csv_rows(everything)) == 105


def test_customer_show_table(crm, shop, scores_if_available):
    result = ok(crm("customer", "show", "ann@EXAMPLE.com", "--format", "table"))
    out = result.stdout
    assert "\x1b" not in out
    for expected in ("Ann Lee", "ann@example.com", "vip", "purchases", "100.00", "2024-05-01",
                     "Open complaints", "late", "Recent timeline", "delivery"):
        assert expected in out, expected


def test_customer_show_json(crm, shop, scores_if_available):
    record = json.loads(ok(crm("customer", "show", "Bob Cruz", "--format", "json")).stdout)
    assert record["customer"]["id"] == 2 and record["customer"]["email"] == "bob@example.com"
    assert record["stats"]["purchases"] == 0
    assert record["open_complaints"] == []
    assert [(e["type"], e["at"]) for e in record["timeline"]] == [
        ("complaint", "2024-06-03"), ("compliment", "2024-06-02"), ("call", "2024-05-02")]
    ann = json.loads(ok(crm("customer", "show", "1", "--format", "json")).stdout)
    assert ann["stats"]["revenue"] == 100.0 and ann["stats"]["last_purchase"] == "2024-05-01"
    assert [c["note"] for c in ann["open_complaints"]] == ["late"]


def test_customer_show_title_with_markup_is_literal(crm, conn, scores_if_available):
    with db.transaction(conn):
        customers.add(conn, "[/bold] Odd [red]Name")
    result = ok(crm("customer", "show", "1", "--format", "table"))
    assert "[/bold] Odd [red]Name" in result.stdout.splitlines()[0]


def test_customer_edit(crm, shop):
    result = ok(crm("customer", "edit", "ann lee", "--name", "Ann Tran", "--email", "ANN@example.com",
                    "--phone", "", "--add-tag", "local", "--remove-tag", "vip", "--note", "moved"))
    assert result.stdout == "" and "updated customer 1 (Ann Tran)" in result.stderr
    record = customers.get(shop, 1)
    assert (record["name"], record["email"], record["phone"], record["tags"], record["note"]) == (
        "Ann Tran", "ANN@example.com", None, ["local"], "moved")
    ok(crm("customer", "edit", "1", "--email", ""))
    assert customers.get(shop, 1)["email"] is None


def test_customer_delete_with_yes(crm, shop):
    result = ok(crm("customer", "delete", "ann@example.com", "--yes"))
    assert result.stdout == ""
    assert "deleted customer 1 (Ann Lee) with 1 interactions and 1 feedback" in result.stderr
    assert [r["id"] for r in csv_rows(crm("customer", "list"))] == ["2", "3", "4"]
    assert {r["customer_id"] for r in csv_rows(crm("interaction", "list"))} == {"2"}
    assert {r["customer_id"] for r in csv_rows(crm("feedback", "list"))} == {"2"}
    assert shop.execute("SELECT count(*) FROM customer_tags").fetchone()[0] == 0


def test_customer_delete_without_a_terminal_does_not_read_an_answer(crm, shop, isolated_database):
    with unchanged(isolated_database):
        result = crm("customer", "delete", "1", input="y\n")
    assert_error(result, 1, "--yes")


# --- interaction -----------------------------------------------------------------------------------------------

def test_interaction_add_prints_the_id(crm, shop):
    result = ok(crm("interaction", "add", "Bob Cruz", "--type", "purchase", "--amount", "49.9", "--at", "yesterday",
                    "--by", "Joy", "--note", "two shirts"))
    assert result.stdout == "3\n" and result.stderr == ""
    newest = csv_rows(crm("interaction", "list", "--limit", "1"))[0]
    assert newest == {"id": "3", "customer_id": "2", "customer_name": "Bob Cruz", "type": "purchase",
                      "at": "2024-06-14T00:00:00", "amount": "49.90", "by": "Joy", "note": "two shirts"}


def test_interaction_list_filters(crm, shop):
    for at in ("2024-05-10T23:59:59", "2024-05-11T00:00:00"):
        ok(crm("interaction", "add", "1", "--type", "visit", "--at", at))
    ats = lambda *args: [r["at"] for r in csv_rows(ok(crm("interaction", "list", *args)))]  # noqa: E731
    # One form in the column: a date recorded without a time is its midnight.
    assert ats() == ["2024-05-11T00:00:00", "2024-05-10T23:59:59", "2024-05-02T00:00:00", "2024-05-01T10:00:00"]
    assert ats("--until", "2024-05-10") == ["2024-05-10T23:59:59", "2024-05-02T00:00:00", "2024-05-01T10:00:00"]
    assert ats("--since", "2024-05-02", "--until", "2024-05-10") == ["2024-05-10T23:59:59", "2024-05-02T00:00:00"]
    assert ats("--type", "purchase") == ["2024-05-01T10:00:00"]
    assert ats("Bob Cruz") == ["2024-05-02T00:00:00"]
    assert ats("--since", "today") == []


# --- feedback -----------------------------------------------------------------------------------------------------

def test_feedback_add_list_open_and_resolve(crm, shop, monkeypatch):
    result = ok(crm("feedback", "add", "an@example.vn", "--type", "complaint", "--rating", "1",
                    "--category", "Quality", "--by", "Sam", "--note", "cold soup", "--at", "2024-06-13T12:00"))
    assert result.stdout == "4\n" and result.stderr == ""
    assert [r["id"] for r in csv_rows(ok(crm("feedback", "list", "--open")))] == ["4", "1"]
    assert [r["id"] for r in csv_rows(ok(crm("feedback", "list", "--type", "compliment")))] == ["2"]
    result = ok(crm("feedback", "resolve", "4", "--note", "replaced"))
    assert result.stdout == "" and "complaint 4 resolved after 2.0 days" in result.stderr
    assert [r["id"] for r in csv_rows(ok(crm("feedback", "list", "--open")))] == ["1"]
    row = csv_rows(ok(crm("feedback", "list", "--customer", "an@example.vn")))[0]
    assert (row["resolved_at"], row["resolution_days"], row["resolution_note"], row["category"]) == (
        "2024-06-15T12:00:00", "2.0", "replaced", "quality")


# --- demo and info ----------------------------------------------------------------------------------------------------

def export(crm, path):
    return [crm("--db", path, noun, "list", "--format", "csv").stdout_bytes for noun in ("customer", "interaction")]


def test_demo_is_reproducible_with_the_same_seed(crm, tmp_path):
    for name, seed in (("a.db", "7"), ("b.db", "7"), ("c.db", "8")):
        result = ok(crm("--db", tmp_path / name, "demo", "--customers", "25", "--seed", seed))
        assert result.stdout == "" and "25 customers" in result.stderr
    first, second, other = (export(crm, tmp_path / name) for name in ("a.db", "b.db", "c.db"))
    assert first == second
    assert first != other
    assert first[0].count(b"\n") == 26 and first[1].count(b"\n") > 26 and b"\r\n" not in first[0]


def test_demo_fills_an_empty_database_and_refuses_a_full_one_without_force(crm, isolated_database):
    ok(crm("demo", "--customers", "20", "--seed", "3"))
    info = json.loads(ok(crm("info", "--format", "json")).stdout)
    assert info["customers"] == 20 and info["interactions"] > 0 and info["feedback"] > 0
    with unchanged(isolated_database):
        assert_error(crm("demo", "--customers", "5"), 1, "already holds 20 customers", "--force")


def test_demo_force_replaces_the_data(crm, tmp_path, isolated_database):
    ok(crm("demo", "--customers", "20", "--seed", "3"))
    ok(crm("customer", "add", "Extra Person"))
    result = ok(crm("demo", "--customers", "12", "--seed", "4", "--force"))
    assert "12 customers" in result.stderr
    ok(crm("--db", tmp_path / "fresh.db", "demo", "--customers", "12", "--seed", "4"))
    assert export(crm, isolated_database) == export(crm, tmp_path / "fresh.db")


def where(database, info):
    """info's path of the file, or the server's address."""
    if str(database).startswith("postgresql://"):
        return info["server"], database
    return info["path"], str(database.resolve())


def test_info_counts(crm, shop, isolated_database):
    info = json.loads(ok(crm("info", "--format", "json")).stdout)
    said, expected = where(isolated_database, info)
    assert said == expected
    assert info["schema_version"] == migrations.latest_version()
    assert info["size_bytes"] > 0
    assert (info["customers"], info["interactions"], info["purchase_records"], info["feedback"],
            info["open_complaints"]) == (4, 2, 1, 3, 1)
    assert (info["first_interaction"], info["last_interaction"]) == ("2024-05-01T10:00:00", "2024-05-02")
    table = ok(crm("info", "--format", "table")).stdout
    assert "schema version" in table and expected in table


def test_info_on_a_new_database(crm, isolated_database, backend):
    said = {"sqlite": "created an empty crmcli database at", "postgresql": "is ready (0 customers)"}[backend]
    assert said in ok(crm("init")).stderr
    info = json.loads(ok(crm("info", "--format", "json")).stdout)
    assert info["customers"] == 0 and info["first_interaction"] is None
    if backend == "sqlite":
        assert isolated_database.exists()


def test_a_successful_write_changes_the_database(crm, shop, isolated_database):
    """The control for the `unchanged` checks above: they do see a change when there is one."""
    before = db_dump(isolated_database)
    ok(crm("customer", "edit", "1", "--note", "x"))
    assert db_dump(isolated_database) != before
