"""Every change to a customer is recorded, in the same transaction, with old and new values."""

from __future__ import annotations

import csv
import io

import pytest
from helpers import assert_error, freeze, other_program, unchanged

from crmcli import customers, db, duplicates, history


def changes(conn, customer_id):
    return [(r["action"], r["field"], r["old_value"], r["new_value"]) for r in history.for_customer(conn, customer_id)]


def test_add_records_every_given_field_and_tag_with_the_time_of_the_add(conn, monkeypatch):
    moment = freeze(monkeypatch)
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", email="ann@example.com", tags=["vip", "b2b"], since="2024-01-02")
    rows = history.for_customer(conn, ann)
    assert [(r["action"], r["field"], r["new_value"]) for r in rows] == [
        ("add", "name", "Ann Lee"), ("add", "email", "ann@example.com"), ("add", "since", "2024-01-02"),
        ("add", "tag", "b2b"), ("add", "tag", "vip"),
    ]
    assert all(r["old_value"] is None for r in rows)
    assert {r["at"] for r in rows if r["field"] != "tag"} == {moment.isoformat()}


def test_edit_records_only_the_fields_that_changed_with_old_and_new(conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", email="ann@example.com", phone="111", tags=["old"])
    with db.transaction(conn):
        customers.edit(conn, ann, email="ann@lee.example", phone="111", add_tags=["new"], remove_tags=["old"])
    assert changes(conn, ann)[-3:] == [
        ("edit", "email", "ann@example.com", "ann@lee.example"),
        ("edit", "tag", None, "new"),
        ("edit", "tag", "old", None),
    ]


def test_a_failed_change_leaves_no_history(crm, conn, isolated_database, tmp_path):
    with db.transaction(conn):
        customers.add(conn, "Ann", email="ann@example.com")
    # Row 2 updates Ann (its trigger writes history), row 3 is bad: the import is all or nothing.
    file = tmp_path / "c.csv"
    file.write_text("name,email,phone\nAnn,ann@example.com,555\nBob,not-an-email,1\n", encoding="utf-8")
    with unchanged(isolated_database):
        assert_error(crm("customer", "import", file, "--on-conflict", "update"), 1, "line 3")
    # and a change rolled back takes its history with it
    with pytest.raises(RuntimeError, match="after its change"), db.transaction(conn):
        customers.edit(conn, 1, phone="999")
        assert changes(conn, 1)[-1] == ("edit", "phone", None, "999")
        raise RuntimeError("the command fails after its change")
    assert [c[0] for c in changes(conn, 1)] == ["add", "add", "add"]


def test_delete_keeps_the_old_values_and_history_still_finds_the_id(conn, crm):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann Lee", phone="555", tags=["vip"])
    result = crm("customer", "delete", str(ann), "--yes")
    assert result.exit_code == 0, result.stderr
    deleted = [c for c in changes(conn, ann) if c[0] == "delete"]
    assert ("delete", "name", "Ann Lee", None) in deleted and ("delete", "phone", "555", None) in deleted
    assert ("delete", "tag", "vip", None) in deleted
    # tags removed with the customer are part of the delete, not separate edits
    assert not [c for c in changes(conn, ann) if c[0] == "edit"]
    result = crm("customer", "history", str(ann), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["action"] for r in rows][-1] == "delete"
    assert list(rows[0]) == list(history.COLUMNS)


def test_merge_is_recorded_on_both_customers(conn):
    with db.transaction(conn):
        keep = customers.add(conn, "Ann Lee", email="ann@example.com")
        dup = customers.add(conn, "Ann Lee", phone="555 0100")
    with db.transaction(conn):
        duplicates.merge(conn, keep, dup)
    assert ("merge", "merged_from", None, str(dup)) in changes(conn, keep)
    assert ("merge", "phone", None, "555 0100") in changes(conn, keep)  # filled by the merge, not an edit
    assert [c for c in changes(conn, keep) if c[0] == "edit"] == []
    dup_rows = changes(conn, dup)
    assert ("merge", "name", "Ann Lee", None) in dup_rows  # DUP's values, kept as the merge's old values
    assert dup_rows[-1] == ("merge", "merged_into", None, str(keep))
    assert not [c for c in dup_rows if c[0] == "delete"]


def test_imports_and_undo_are_recorded(crm, conn, tmp_path):
    file = tmp_path / "customers.csv"
    file.write_text("name,email,phone\nAnn,ann@example.com,1\nBob,bob@example.com,2\n", encoding="utf-8")
    assert crm("customer", "import", file).exit_code == 0
    file.write_text("name,email,phone\nAnn,ann@example.com,9\n", encoding="utf-8")
    result = crm("customer", "import", file, "--on-conflict", "update")
    assert result.exit_code == 0, result.stderr
    ann = customers.resolve(conn, "ann@example.com")
    assert ("edit", "phone", "1", "9") in changes(conn, ann)
    bob = customers.resolve(conn, "bob@example.com")
    result = crm("import", "undo", "1")
    assert result.exit_code == 0, result.stderr
    assert changes(conn, bob)[-1][0] == "delete"


def test_a_change_made_by_another_program_is_recorded_too(conn, isolated_database):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
    other = other_program(isolated_database)
    other.execute("UPDATE customers SET company = 'Lee & Co' WHERE id = ?", (ann,))
    other.close()
    assert changes(conn, ann)[-1] == ("edit", "company", None, "Lee & Co")


@pytest.mark.parametrize("ref", ["42", "nobody@example.com", "Nobody"])
def test_history_of_an_unknown_customer_is_an_error(crm, conn, isolated_database, ref):
    with unchanged(isolated_database):
        assert_error(crm("customer", "history", ref), 1, "customer: no customer")


def test_history_table_on_a_terminal_shows_old_and_new(crm, conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        customers.edit(conn, ann, name="Ann Lee")
    result = crm("customer", "history", "Ann Lee", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "History of customer 1" in result.stdout
    edit_line = next(line for line in result.stdout.splitlines() if "edit" in line)
    assert "Ann" in edit_line and "Ann Lee" in edit_line


def test_a_new_customer_never_reuses_a_deleted_customers_id(conn):
    with db.transaction(conn):
        customers.add(conn, "Ann")
        bob = customers.add(conn, "Bob", tags=["vip"])
    with db.transaction(conn):
        customers.delete(conn, bob)
    with db.transaction(conn):
        cid = customers.add(conn, "Cy", tags=["new"])
    assert cid == bob + 1
    assert changes(conn, cid) == [("add", "name", None, "Cy"), ("add", "since", None, changes(conn, cid)[1][3]),
                                  ("add", "tag", None, "new")]
    assert changes(conn, bob)[-1][0] == "delete"


def test_a_customer_from_before_history_was_kept_has_an_empty_history_and_a_note(crm, conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann")
        conn.execute("DELETE FROM customer_history")  # as after an upgrade from schema 3
    result = crm("customer", "history", str(ann), "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [",".join(history.COLUMNS)]
    assert "no changes recorded for customer 1" in result.stderr


def test_an_import_with_ids_records_history_on_those_ids_and_never_reuses_one(crm, conn, tmp_path):
    with db.transaction(conn):
        alice = customers.add(conn, "Alice", note="private")
        customers.delete(conn, alice)
    file = tmp_path / "c.csv"
    file.write_text(f"id,name,tags\n100,Yolanda,vip\n{alice},Mallory,\n", encoding="utf-8")
    result = crm("customer", "import", file, "--skip-invalid", "--rejects", tmp_path / "rejects.csv")
    assert result.exit_code == 0, result.stderr
    assert changes(conn, 100) == [("add", "name", None, "Yolanda"), ("add", "since", None, changes(conn, 100)[1][3]),
                                  ("add", "tag", None, "vip")]
    assert "ids are never reused" in (tmp_path / "rejects.csv").read_text(encoding="utf-8")
    assert all(c[3] != "Mallory" for c in changes(conn, alice))
    assert customers.add(conn, "Next") == 101


def test_ids_used_up_to_the_largest_integer_is_a_clear_error(crm, conn, tmp_path):
    # Another program (or the Python API) set the id: an import refuses ids above imports.MAX_IMPORTED_ID.
    with db.transaction(conn):
        customers.add(conn, "Max Id", customer_id=customers.SQLITE_MAX_INTEGER)
    assert_error(crm("customer", "add", "After Max"), 1, "no new customer can get an id")
