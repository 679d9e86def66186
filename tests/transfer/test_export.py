"""Export: the import's columns, streamed; and the round trip export -> import into an empty db -> same data."""

import csv
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
def frozen(monkeypatch):
    return freeze(monkeypatch)


@pytest.fixture
def shop(conn):
    """Data chosen to trip an exporter up: formula-like text, quotes, newlines, leading zeros, gaps in ids."""
    with db.transaction(conn):
        ann = customers.add(conn, "Lee, Ann \"the baker\"", email="Ann@Example.com", phone="0412 555 019",
                            company="=SUM(A1)", tags=["vip", "-minus"], note="line one\r\nline two",
                            external_id="007", since="2021-02-03")
        gone = customers.add(conn, "Deleted Later")
        bob = customers.add(conn, "'=not a formula", phone="+44 20 7946 0018", note="''quoted", since="2022-01-01")
        an = customers.add(conn, "Nguyễn Văn An", email="an@example.vn", tags=["wholesale"], note="@home")
        customers.add(conn, "No Contact Details")
        customers.delete(conn, gone)
        interactions.add(conn, ann, "purchase", at="2024-01-05T10:12", amount="45.50", by="Linh", external_id="R1")
        interactions.add(conn, ann, "refund", at="2024-01-06", amount="5", note="-5 damaged")
        interactions.add(conn, bob, "call", at="2024-02-01T09:00:00", by="'Sam'", note="asked, \"twice\"")
        interactions.add(conn, an, "purchase", at="2024-03-01", amount="0.01")
        feedback.add(conn, ann, "complaint", rating=2, category="Delivery", at="2024-01-07", note="late",
                     resolved_at="2024-01-08T10:00", resolution_note="refunded", external_id="F1")
        feedback.add(conn, bob, "compliment", rating=5, at="2024-02-02")
        feedback.add(conn, an, "suggestion", at="2024-03-02", note="+ more tea")
    return conn


def content(path):
    """Everything a user typed, in order; ids of interactions and feedback, timestamps and batches left out."""
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


def round_trip(crm, source_db, folder, target_db):
    result = crm("--db", source_db, "export", "all", "--output", folder)
    assert result.exit_code == 0, result.stderr
    for kind, command in (("customers", "customer"), ("interactions", "interaction"), ("feedback", "feedback")):
        result = crm("--db", target_db, command, "import", folder / f"{kind}.csv")
        assert result.exit_code == 0, result.stderr


def test_export_then_import_into_an_empty_database_gives_the_same_data(crm, shop, isolated_database, tmp_path):
    target = tmp_path / "empty.db"
    round_trip(crm, isolated_database, tmp_path / "export", target)
    assert content(target) == content(isolated_database)
    assert len(content(target)["customers"]) == 4 and content(target)["customers"][-1][0] == 5  # ids kept


def test_exporting_again_after_the_round_trip_gives_the_same_files(crm, shop, isolated_database, tmp_path):
    round_trip(crm, isolated_database, tmp_path / "first", tmp_path / "copy.db")
    assert crm("--db", tmp_path / "copy.db", "export", "all", "-o", tmp_path / "second").exit_code == 0
    for name in ("customers.csv", "interactions.csv", "feedback.csv"):
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()


def test_importing_an_export_into_the_same_database_changes_nothing(crm, shop, isolated_database, tmp_path):
    crm("export", "customers", "-o", tmp_path / "c.csv")
    before = content(isolated_database)
    result = crm("customer", "import", tmp_path / "c.csv")
    assert result.exit_code == 0, result.stderr
    assert "0 added, 0 updated, 4 skipped" in result.stderr  # by external_id, email, or id and name
    assert content(isolated_database) == before


def test_export_columns_are_the_import_columns(crm, shop):
    from crmcli.transfer import exports, imports

    for kind in exports.KINDS:
        assert set(exports.COLUMNS[kind]) <= set(imports.COLUMNS[kind])
    result = crm("export", "interactions")
    assert result.exit_code == 0
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert list(rows[0]) == list(exports.COLUMNS["interactions"])
    assert rows[1]["note"] == "'-5 damaged"  # a spreadsheet must not run it; import takes the ' off again
    assert rows[0]["amount"] == "45.50"
    assert result.stdout_bytes.endswith(b"\n") and b"\r\n" not in result.stdout_bytes


def test_export_jsonl(crm, shop):
    result = crm("export", "customers", "--format", "jsonl")
    assert result.exit_code == 0, result.stderr
    first = json.loads(result.stdout.splitlines()[0])
    assert first["tags"] == ["-minus", "vip"] and first["company"] == "=SUM(A1)"  # JSON is not escaped
    amounts = [json.loads(line)["amount"] for line in crm("export", "interactions", "-f", "jsonl").stdout.splitlines()]
    assert amounts == [45.5, 5.0, None, 0.01]


def test_export_to_a_folder_and_errors(crm, shop, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    assert crm("export", "feedback", "-o", folder).exit_code == 0
    assert (folder / "feedback.csv").exists()
    assert_error(crm("export", "all"), 1, "output: is required for `all`")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_error(crm("export", "all", "-o", blocker), 1, "is a file")
    assert_error(crm("export", "everything"), 2)


def test_export_streams_rows(shop):
    from crmcli.transfer import exports

    generator = exports.rows(shop, "customers")
    assert next(generator)["id"] == 1  # a generator: rows come from the cursor one at a time
    generator.close()


# Any text a person could type, through add -> export -> import -> the same stored value.
any_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
texts = st.text(any_char, max_size=30) | st.sampled_from(
    ["=1+1", "'=x", "''", "'", "-", "@a", "a\r\nb", "a\rb", "\"", "x,y", "Nguye\u0302\u0303n", " 007 ", "+44"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=texts.filter(lambda s: s.strip()), note=texts, phone=texts, company=texts)
def test_any_text_survives_the_round_trip(name, note, phone, company, monkeypatch):
    freeze(monkeypatch)
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        conn = db.connect(tmp / "a.db")
        with db.transaction(conn):
            customer = customers.add(conn, name, note=note, phone=phone, company=company)
            interactions.add(conn, customer, "call", at="2024-01-01", note=note, by=company)
        conn.close()

        def crm(*args):
            return runner.invoke(app, [str(a) for a in args])

        round_trip(crm, tmp / "a.db", tmp / "out", tmp / "b.db")
        assert content(tmp / "b.db") == content(tmp / "a.db")


def test_a_failed_export_leaves_no_partial_file(crm, shop, tmp_path, monkeypatch):
    from crmcli.transfer import exports

    def broken(conn, kind, fmt="csv"):
        yield {"id": 1}
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "rows", broken)
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(RuntimeError):
        exports.export(shop, "customers", output=folder / "c.csv")
    assert list(folder.iterdir()) == []  # no c.csv, no temporary file


def test_export_does_not_write_the_database(crm, shop, isolated_database, tmp_path):
    with unchanged(isolated_database):
        assert crm("export", "all", "-o", tmp_path / "x").exit_code == 0
