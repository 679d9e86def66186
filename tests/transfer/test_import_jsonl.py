"""JSON Lines in: `crm export --format jsonl` imports back; values, errors, rejects and options as for CSV."""

import json
import tempfile
from pathlib import Path

import pytest
from helpers import assert_error, freeze, other_program, unchanged
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmcli import customers, db, feedback, interactions
from crmcli.cli import app


@pytest.fixture(autouse=True)
def frozen(monkeypatch, isolated_database):
    db.connect(isolated_database).close()  # the database exists: `unchanged` compares real content
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


def jsonl(tmp_path, *lines, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


@pytest.fixture
def ann(conn):
    with db.transaction(conn):
        return customers.add(conn, "Ann Lee", email="ann@example.com", external_id="A1")


def content(path):
    """Everything a user typed, in order; row ids, timestamps and batches left out."""
    conn = other_program(path)
    try:
        return {
            "customers": conn.execute("SELECT id, name, email, phone, company, note, external_id, since "
                                      "FROM customers ORDER BY id").fetchall(),
            "tags": conn.execute("SELECT customer_id, tag FROM customer_tags ORDER BY 1, 2").fetchall(),
            "interactions": conn.execute("SELECT customer_id, type, at, amount_cents, staff, note, external_id "
                                         "FROM interactions ORDER BY id").fetchall(),
            "feedback": conn.execute("SELECT customer_id, type, rating, category, staff, note, at, resolved_at, "
                                     "resolution_note, external_id FROM feedback ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


# --- the round trip ----------------------------------------------------------------------------------

@pytest.fixture
def shop(conn):
    """Text that trips formats up: formula-like and apostrophe-led text, quotes, newlines, accents, gaps in ids."""
    with db.transaction(conn):
        ann = customers.add(conn, "Lee, Ann \"the baker\"", email="Ann@Example.com", phone="0412 555 019",
                            company="=SUM(A1)", tags=["vip", "-minus"], note="line one\r\nline two",
                            external_id="007", since="2021-02-03")
        gone = customers.add(conn, "Deleted Later")
        bob = customers.add(conn, "'=not a formula", phone="+44 20 7946 0018", note="''quoted", since="2022-01-01")
        an = customers.add(conn, "Nguyễn Văn An", email="an@example.vn", tags=["wholesale"], note="@home")
        customers.delete(conn, gone)
        interactions.add(conn, ann, "purchase", at="2024-01-05T10:12", amount="45.50", by="Linh", external_id="R1")
        interactions.add(conn, ann, "refund", at="2024-01-06", amount="5", note="-5 damaged")
        interactions.add(conn, bob, "call", at="2024-02-01T09:00:00", by="'Sam'", note="asked, \"twice\"")
        interactions.add(conn, an, "purchase", at="2024-03-01", amount="0.01")
        feedback.add(conn, ann, "complaint", rating=2, category="Delivery", at="2024-01-07", note="late",
                     resolved_at="2024-01-08T10:00", resolution_note="refunded", external_id="F1")
        feedback.add(conn, an, "suggestion", at="2024-03-02", note="+ more tea")
    return conn


def test_a_jsonl_export_imports_into_an_empty_database_as_it_was(crm, shop, isolated_database, tmp_path):
    folder, target = tmp_path / "export", tmp_path / "copy.db"
    assert crm("export", "all", "--format", "jsonl", "--output", folder).exit_code == 0
    for kind, command in (("customers", "customer"), ("interactions", "interaction"), ("feedback", "feedback")):
        result = crm("--db", target, command, "import", folder / f"{kind}.jsonl")  # .jsonl: no --format needed
        assert result.exit_code == 0, result.stderr
    assert content(target) == content(isolated_database)
    assert content(target)["customers"][-1][0] == 4  # ids kept, the gap too
    # and again: the copy exports to the same bytes
    again = tmp_path / "again"
    assert crm("--db", target, "export", "all", "--format", "jsonl", "--output", again).exit_code == 0
    for kind in ("customers", "interactions", "feedback"):
        assert (again / f"{kind}.jsonl").read_bytes() == (folder / f"{kind}.jsonl").read_bytes()


def test_stdin_takes_format_jsonl_and_an_empty_file_imports_nothing(crm, ann, tmp_path):
    line = json.dumps({"customer_id": ann, "type": "call", "at": "2024-05-01"})
    result = crm("interaction", "import", "-", "--format", "jsonl", input=line + "\n")
    assert result.exit_code == 0, result.stderr
    assert "1 rows read, 1 added" in result.stderr
    empty = jsonl(tmp_path)
    result = crm("interaction", "import", empty)
    assert result.exit_code == 0, result.stderr
    assert "0 rows read" in result.stderr


# --- values ------------------------------------------------------------------------------------------

def test_numbers_are_read_as_written_and_null_or_a_missing_key_is_empty(crm, conn, ann, tmp_path):
    path = jsonl(tmp_path,
                 '{"customer_id": 1, "type": "purchase", "at": "2024-05-01", "amount": 12.5, "external_id": 1234}',
                 '{"customer_external_id": "A1", "type": "refund", "at": "2024-05-02", "amount": "0.10"}',
                 '{"customer_email": "ANN@example.com", "type": "call", "at": "2024-05-03", "amount": null}')
    result = crm("interaction", "import", path)
    assert result.exit_code == 0, result.stderr
    assert [tuple(r) for r in conn.execute("SELECT type, amount_cents, external_id FROM interactions ORDER BY id")] == [
        ("purchase", 1250, "1234"), ("refund", 10, None), ("call", None, None)]


def test_text_keeps_its_apostrophes_and_formula_signs(crm, conn, tmp_path):
    path = jsonl(tmp_path, {"name": "'=kept as typed", "note": "=SUM(A1)", "tags": ["-minus", "vip"]},
                 {"name": "''two", "company": "@home"})
    result = crm("customer", "import", path)
    assert result.exit_code == 0, result.stderr
    first, second = customers.get(conn, 1), customers.get(conn, 2)
    assert (first["name"], first["note"], first["tags"]) == ("'=kept as typed", "=SUM(A1)", ["-minus", "vip"])
    assert (second["name"], second["company"]) == ("''two", "@home")


def test_tags_may_be_a_list_or_text_and_feedback_ratings_numbers(crm, conn, ann, tmp_path):
    assert crm("customer", "import", jsonl(tmp_path, {"name": "Bo", "tags": "a;b"}, {"name": "Cy", "tags": []})
               ).exit_code == 0
    assert customers.get(conn, 2)["tags"] == ["a", "b"] and customers.get(conn, 3)["tags"] == []
    said = jsonl(tmp_path, {"customer_id": ann, "type": "compliment", "rating": 5, "at": "2024-05-01"},
                 name="f.jsonl")
    assert crm("feedback", "import", said).exit_code == 0
    assert conn.execute("SELECT rating FROM feedback").fetchone()[0] == 5


@pytest.mark.parametrize("line, fragment", [
    ('{"name": "Ann", "note": true}', "line 1, column note: is a JSON true or false; give text, a number or null "
                                      "('true')"),
    ('{"name": "Ann", "phone": {"home": "1"}}', "line 1, column phone: is a JSON object; give text, a number or "
                                                "null ('{\"home\": \"1\"}')"),
    ('{"name": ["Ann"]}', "line 1, column name: is a JSON list; only tags may be one ('[\"Ann\"]')"),
    ('{"name": "Ann", "tags": ["a;b"]}', "line 1, column tags: is a tag in a list; a tag cannot contain ';' ('a;b')"),
    ('{"name": "Ann", "tags": [1, false]}', "line 1, column tags: is a list of tags, each text: false is not"),
    ('{"name": "Ann", "since": 2024}', "line 1, column since: "),
    ('{"name": "Ann", "name": "Bob"}', "line 1: key 'name' twice"),
])
def test_a_value_no_field_takes_is_an_error_naming_field_and_value(crm, isolated_database, tmp_path, line,
                                                                     fragment):
    with unchanged(isolated_database):
        result = crm("customer", "import", jsonl(tmp_path, line))
    assert_error(result, 1, "1 row has errors; nothing was imported", fragment)


def test_amounts_go_through_the_amount_rule(crm, isolated_database, ann, tmp_path):
    path = jsonl(tmp_path, {"customer_id": ann, "type": "purchase", "at": "2024-05-01", "amount": 10},
                 '{"customer_id": 1, "type": "purchase", "at": "2024-05-01", "amount": -1}',
                 '{"customer_id": 1, "type": "purchase", "at": "2024-05-01", "amount": 12.345}',
                 '{"customer_id": 1, "type": "call", "at": "2024-05-01", "amount": 5}')
    with unchanged(isolated_database):
        result = crm("interaction", "import", path)
    assert_error(result, 1, "3 rows have errors", "line 2, column amount: ", "('-1')",
                 "line 3, column amount: has more than 2 decimal places ('12.345')",
                 "line 4, column amount: is only recorded for purchases and refunds")
    assert "line 1" not in result.stderr


# --- lines, all or nothing, rejects --------------------------------------------------------------------

def test_errors_give_the_line_of_the_file_blank_lines_counted(crm, isolated_database, ann, tmp_path):
    good = {"customer_id": ann, "type": "call", "at": "2024-05-01"}
    lines = [good] * 4499 + ["", {"customer_id": ann, "type": "sale", "at": "2024-05-01"}, "not json", "[1, 2]",
                             {"customer_id": ann, "type": "call", "at": "2024-05-01", "till": 3}]
    with unchanged(isolated_database):
        result = crm("interaction", "import", jsonl(tmp_path, *lines))
    assert_error(result, 1, "4 rows have errors; nothing was imported",
                 "line 4501, column type: must be one of purchase, refund",
                 "line 4502: is not JSON (Expecting value at column 1)",
                 "line 4503: is a JSON list, not an object",
                 "line 4504: unknown key 'till'; the interactions keys are: customer_id, ")


def test_skip_invalid_writes_the_bad_lines_as_json_lines_with_an_error_key(crm, conn, ann, tmp_path):
    path = jsonl(tmp_path, {"customer_id": ann, "type": "purchase", "at": "2024-05-01", "amount": 12.5},
                 '{"customer_id": 1, "type": "purchase", "at": "2024-05-02", "amount": 1.005, "note": "x"}',
                 "{oops")
    rejects = tmp_path / "rejects.jsonl"
    result = crm("interaction", "import", path, "--skip-invalid", "--rejects", rejects)
    assert result.exit_code == 0, result.stderr
    assert "3 rows read, 1 added, 0 skipped (already there), 2 rejected" in result.stderr
    bad = [json.loads(line) for line in rejects.read_text(encoding="utf-8").splitlines()]
    assert bad[0] == {"customer_id": 1, "type": "purchase", "at": "2024-05-02", "amount": 1.005, "note": "x",
                      "error": "line 2, column amount: has more than 2 decimal places ('1.005')"}
    assert bad[1]["line_text"] == "{oops" and bad[1]["error"].startswith("line 3: is not JSON")
    # fixed in place, the rejects file imports as it is (its error key is ignored)
    rejects.write_text(json.dumps({**bad[0], "amount": 1.5}) + "\n", encoding="utf-8")
    again = crm("interaction", "import", rejects)
    assert again.exit_code == 0, again.stderr
    assert [r[0] for r in conn.execute("SELECT amount_cents FROM interactions ORDER BY id")] == [1250, 150]


# --- keys, options -------------------------------------------------------------------------------------

def test_unknown_keys_on_the_first_line_refuse_the_file_and_ignore_extra_leaves_them_out(crm, conn, isolated_database,
                                                                                      tmp_path):
    path = jsonl(tmp_path, {"name": "Ann", "purchases": 3, "revenue": 10.5}, {"name": "Bob", "last_seen": None})
    with unchanged(isolated_database):
        refused = crm("customer", "import", path)
    assert_error(refused, 1, "line 1: unknown key 'purchases', 'revenue'. The customers keys are: id, name",
                 "--ignore-extra leaves unknown ones out")
    result = crm("customer", "import", path, "--ignore-extra")
    assert result.exit_code == 0, result.stderr
    assert "left out 3 columns crm does not import (--ignore-extra): purchases, revenue, last_seen" in result.stderr
    assert [customers.get(conn, n)["name"] for n in (1, 2)] == ["Ann", "Bob"]


def test_map_renames_keys_and_a_key_never_seen_is_an_error(crm, conn, isolated_database, tmp_path):
    path = jsonl(tmp_path, {"Naam": "Ann", "E-mail": "ann@example.com"}, {"Naam": "Bob", "Telefoon": "1"})
    with unchanged(isolated_database):
        never = crm("customer", "import", path, "--map", "Naam=name,E-mail=email,Telefoon=phone,Fax=note")
    assert_error(never, 1, "map: is not a key of any object in", "('Fax')")
    result = crm("customer", "import", path, "--map", "Naam=name,E-mail=email,Telefoon=phone")
    assert result.exit_code == 0, result.stderr
    assert (customers.get(conn, 2)["name"], customers.get(conn, 2)["phone"]) == ("Bob", "1")


def test_a_key_mapped_onto_one_the_object_also_has_is_an_error(crm, isolated_database, tmp_path):
    path = jsonl(tmp_path, {"name": "Ann", "Naam": "Ann Lee"})
    with unchanged(isolated_database):
        result = crm("customer", "import", path, "--map", "Naam=name")
    assert_error(result, 1, "line 1: keys 'name' and 'Naam' both give name")


def test_what_is_not_json_lines_is_refused_at_once(crm, isolated_database, tmp_path):
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("name\nAnn\n", encoding="utf-8")
    with unchanged(isolated_database):
        as_jsonl = crm("customer", "import", csv_file, "--format", "jsonl")
        delimiter = crm("customer", "import", jsonl(tmp_path, {"name": "Ann"}), "--delimiter", ";")
        scalar = crm("customer", "import", jsonl(tmp_path, '"Ann"', name="s.jsonl"))
    assert_error(as_jsonl, 1, "line 1: is not JSON", "for a CSV file, leave out --format jsonl")
    assert_error(delimiter, 1, "delimiter: is for CSV files; a JSON Lines file has none")
    assert_error(scalar, 1, "line 1: is a JSON string or number, not an object")


def test_format_csv_reads_a_jsonl_named_file_as_csv(crm, conn, tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text("name\nAnn\n", encoding="utf-8")
    result = crm("customer", "import", path, "--format", "CSV")
    assert result.exit_code == 0, result.stderr
    assert customers.get(conn, 1)["name"] == "Ann"


def test_date_format_dry_run_and_create_missing_work_for_jsonl(crm, conn, tmp_path):
    path = jsonl(tmp_path, {"customer_email": "new@example.com", "customer_name": "New Person", "type": "call",
                            "at": "02/05/2024"})
    dry = crm("interaction", "import", path, "--date-format", "%d/%m/%Y", "--create-missing", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0
    result = crm("interaction", "import", path, "--date-format", "%d/%m/%Y", "--create-missing")
    assert result.exit_code == 0, result.stderr
    assert [tuple(r) for r in conn.execute("SELECT c.name, i.at FROM interactions i JOIN customers c "
                                           "ON c.id = i.customer_id")] == [("New Person", "2024-05-02")]


# --- hostile lines -------------------------------------------------------------------------------------

def test_json_nested_thousands_deep_is_a_bad_line_not_a_crash(crm, isolated_database, tmp_path):
    deep = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    rejects = tmp_path / "rejects.jsonl"
    with unchanged(isolated_database):
        result = crm("customer", "import", jsonl(tmp_path, {"name": "Ann"}, deep))
    assert_error(result, 1, "line 2: is not JSON crm reads: it is nested too deeply")
    skipped = crm("customer", "import", jsonl(tmp_path, {"name": "Ann"}, deep), "--skip-invalid", "--rejects",
                  rejects)
    assert skipped.exit_code == 0, skipped.stderr
    assert json.loads(rejects.read_text(encoding="utf-8"))["line_text"] == deep
    first = crm("customer", "import", jsonl(tmp_path, deep, name="first.jsonl"))
    assert_error(first, 1, "line 1: is not JSON crm reads: it is nested too deeply ('")


def test_a_lone_surrogate_escape_is_a_bad_line_and_a_pair_is_its_character(crm, conn, isolated_database, tmp_path):
    with unchanged(isolated_database):
        result = crm("customer", "import", jsonl(tmp_path, {"name": "Ann"}, r'{"name": "Bob \ud800"}'))
    assert_error(result, 1, r"line 2: has a \u escape that is half of a UTF-16 pair (\ud800), not a character")
    result = crm("customer", "import", jsonl(tmp_path, r'{"name": "Bob \ud83d\ude00 \u00e9"}'))
    assert result.exit_code == 0, result.stderr
    assert customers.get(conn, 1)["name"] == "Bob \U0001f600 \u00e9"


def test_many_unknown_keys_make_one_short_problem_and_one_short_note(crm, conn, isolated_database, tmp_path):
    wide = {"name": "Bob", **{f"k{n}": n for n in range(5000)}}
    with unchanged(isolated_database):
        result = crm("customer", "import", jsonl(tmp_path, {"name": "Ann"}, wide))
    assert_error(result, 1, "line 2: unknown key 'k0', 'k1', 'k2'", "and 4990 more; the customers keys are: id,")
    assert len(result.stderr) < 1000
    ignored = crm("customer", "import", jsonl(tmp_path, {"name": "Ann"}, wide), "--ignore-extra")
    assert ignored.exit_code == 0, ignored.stderr
    assert "left out at least 1000 columns crm does not import (--ignore-extra): k0, k1," in ignored.stderr
    assert "k19 and at least 980 more" in ignored.stderr
    assert customers.get(conn, 2)["name"] == "Bob"


# --- any text ------------------------------------------------------------------------------------------

_any_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_texts = st.text(_any_char, max_size=40) | st.sampled_from(["'=x", "''y", "'", "=1+1", "-5", "+63 917 555 0101",
                                                             "@home", "a\nb", "\u2028", '"quoted"', "\\u0041"])


# The autouse CRM_DB fixture is not reset between examples: each example uses its own databases (--db).
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_texts.filter(lambda s: s.strip()), note=_texts, tag=st.sampled_from(["vip", "-minus", "'quoted", "a b"]))
def test_any_text_survives_a_jsonl_export_and_import(name, note, tag):
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as folder:
        source, target, out = Path(folder) / "a.db", Path(folder) / "b.db", Path(folder) / "out"

        def crm(database, *args):
            result = runner.invoke(app, ["--db", str(database), *map(str, args)])
            assert result.exit_code == 0, (args, result.stderr, result.exception)

        crm(source, "customer", "add", f"--note={note}", f"--company={note}", f"--tag={tag}", "--", name)
        crm(source, "interaction", "add", "1", "--type", "call", f"--note={note}", "--by", name, "--at", "2024-01-02")
        crm(source, "export", "all", "--format", "jsonl", "--output", out)
        for command, kind in (("customer", "customers"), ("interaction", "interactions")):
            crm(target, command, "import", out / f"{kind}.jsonl")
        assert content(target) == content(source)
