"""Privacy: files readable by their owner only, and `crm customer forget` erasing a person from the file."""

from __future__ import annotations

import stat

import pytest
from helpers import assert_error, db_dump, unchanged

from crmcli import customers, db, duplicates, feedback, followups, history, interactions, values

# Distinctive text that can only be in the file because of the person being forgotten.
SECRETS = {
    "name": "Zebulon Quagmire-Xanthippe",
    "old_name": "Zeb Quagmire-Oldname",
    "email": "zebulon.secret@quagmire.example",
    "phone": "+44 7000 918273",
    "company": "Quagmire Secret Holdings",
    "note": "prefers-the-side-door-QX1",
    "tag": "tag-qx-private",
    "external_id": "TILL-QX-0042",
    "interaction_note": "asked-about-divorce-QX2",
    "feedback_note": "complained-about-neighbour-QX3",
    "resolution_note": "refunded-quietly-QX4",
    "followup_note": "call-about-hospital-QX5",
    "dup_phone": "+44 7000 555111",
    "dup_note": "duplicate-record-note-QX6",
}


# What crm derives from them to find the person by (crmcli/refs.py: the folded name, email and company,
# the phone's digits and their reversed key).
FOLDED = {
    "name_key": values.name_key(SECRETS["name"]),
    "folded_name": values.search_fold(SECRETS["name"]),
    "folded_email": values.search_fold(SECRETS["email"]),
    "folded_company": values.search_fold(SECRETS["company"]),
    "phone_digits": values.phone_digits(SECRETS["phone"]),
    "phone_key": values.phone_key(SECRETS["phone"]),
}


def bytes_on_disk(path):
    """The database file and its -wal file, as bytes: where erased text could linger. On a server, whose
    files are not ours to read, every row of every table (the live rows and the history; the dead row
    versions VACUUM removes are out of reach here)."""
    if str(path).startswith("postgresql://"):
        return db_dump(path).encode("utf-8")
    data = path.read_bytes()
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        data += wal.read_bytes()
    return data


def lingering(path):
    data = bytes_on_disk(path)
    return sorted(key for key, value in {**SECRETS, **FOLDED}.items() if str(value).encode("utf-8") in data)


@pytest.fixture
def person(conn):
    """A customer with every kind of personal data, an edit (old name), and a merged duplicate, among others."""
    with db.transaction(conn):
        for i in range(200):  # neighbours on the same pages
            other = customers.add(conn, f"Neighbour {i}", email=f"n{i}@example.com", note="regular")
            interactions.add(conn, other, "purchase", at="2024-03-01", amount="10.00")
        zeb = customers.add(conn, SECRETS["old_name"], email=SECRETS["email"], phone=SECRETS["phone"],
                            company=SECRETS["company"], note=SECRETS["note"], tags=[SECRETS["tag"]],
                            external_id=SECRETS["external_id"])
        dup = customers.add(conn, SECRETS["old_name"], phone=SECRETS["dup_phone"], note=SECRETS["dup_note"])
        customers.edit(conn, zeb, name=SECRETS["name"])
        for day, amount in (("2024-01-05", "120.50"), ("2024-02-10", "80.00")):
            interactions.add(conn, zeb, "purchase", at=day, amount=amount, by="Sam", note=SECRETS["interaction_note"])
        interactions.add(conn, dup, "purchase", at="2024-03-15", amount="15.25")
        complaint = feedback.add(conn, zeb, "complaint", rating=2, category="service", note=SECRETS["feedback_note"],
                                 at="2024-02-11")
        feedback.resolve(conn, complaint, note=SECRETS["resolution_note"])
        followups.add(conn, zeb, "2030-01-01", note=SECRETS["followup_note"])
        duplicates.merge(conn, zeb, dup)
    return zeb


def totals(conn):
    return conn.execute(
        "SELECT count(*), sum(amount_cents), min(at), max(at) FROM interactions WHERE type = 'purchase'"
    ).fetchone()[:], conn.execute("SELECT count(*) FROM customers").fetchone()[0]


def test_forget_erases_the_person_from_the_file_and_keeps_the_totals(crm, conn, person, isolated_database, backend):
    if backend == "sqlite":
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert lingering(isolated_database) == sorted({**SECRETS, **FOLDED})  # the check can find them: not vacuous
    before = totals(conn)

    result = crm("customer", "forget", SECRETS["email"], "--yes")
    assert result.exit_code == 0, result.stderr
    assert f"forgot customer {person}" in result.stderr
    assert "Backups made before now" in result.stderr

    assert lingering(isolated_database) == []
    assert totals(conn) == before
    record = customers.get(conn, person)
    assert record["name"] == history.FORGOTTEN_NAME and record["tags"] == []
    assert all(record[f] is None for f in ("email", "phone", "company", "note", "external_id"))
    purchases = conn.execute("SELECT at, amount_cents, staff FROM interactions WHERE customer_id = ? ORDER BY at",
                             (person,)).fetchall()
    assert [tuple(p) for p in purchases] == [("2024-01-05", 12050, "Sam"), ("2024-02-10", 8000, "Sam"),
                                             ("2024-03-15", 1525, None)]
    complaint = conn.execute("SELECT type, rating, category, at, resolved_at FROM feedback WHERE customer_id = ?",
                             (person,)).fetchone()
    assert tuple(complaint)[:4] == ("complaint", 2, "service", "2024-02-11") and complaint["resolved_at"]


def test_forget_keeps_the_shape_of_the_history_but_no_values(crm, conn, person):
    assert crm("customer", "forget", str(person), "--yes").exit_code == 0
    rows = history.for_customer(conn, person)
    assert rows[-1]["action"] == "forget"
    assert {r["action"] for r in rows} >= {"add", "edit", "merge", "forget"}
    kept = {(r["field"], r["new_value"]) for r in rows if r["old_value"] or r["new_value"]}
    assert kept == {("merged_from", str(person + 1))}  # only the link to the merged record, an id


def test_the_forgotten_customer_still_counts_in_reports(crm, conn, person):
    before = crm("customer", "list", "--format", "csv").stdout.splitlines()
    assert crm("customer", "forget", str(person), "--yes").exit_code == 0
    after = crm("customer", "list", "--format", "csv").stdout.splitlines()
    assert len(after) == len(before)
    forgotten = next(line for line in after if line.startswith(f"{person},"))
    assert forgotten.startswith(f"{person},{history.FORGOTTEN_NAME},,,,,")  # no email, phone, company, tags
    assert forgotten.endswith(",3,215.75,2024-03-15,0,3")  # purchases, revenue, last purchase, open complaints, records
    result = crm("report", "segments", "--format", "csv")
    assert result.exit_code == 0, result.stderr


def test_forget_a_deleted_customer_scrubs_their_history(crm, conn, isolated_database):
    with db.transaction(conn):
        gone = customers.add(conn, SECRETS["name"], email=SECRETS["email"])
        customers.add(conn, "Someone Else")
    assert crm("customer", "delete", str(gone), "--yes").exit_code == 0
    assert any(r["old_value"] == SECRETS["name"] for r in history.for_customer(conn, gone))
    result = crm("customer", "forget", str(gone), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "the history of a deleted customer" in result.stderr
    assert lingering(isolated_database) == []
    assert customers.list_customers(conn)[0]["name"] == "Someone Else"


def test_forget_without_a_terminal_asks_for_yes_and_changes_nothing(crm, conn, person, isolated_database):
    with unchanged(isolated_database):
        assert_error(crm("customer", "forget", str(person)), 1, "add --yes")


@pytest.mark.parametrize("ref", ["9999", "nobody@example.com"])
def test_forget_an_unknown_customer_is_an_error(crm, conn, person, isolated_database, ref):
    with unchanged(isolated_database):
        assert_error(crm("customer", "forget", ref, "--yes"), 1, "customer: no customer")


@pytest.mark.sqlite_only("the file's mode; a server's files are the server's own, its access is its roles")
def test_database_and_its_companion_files_are_private(conn, isolated_database):
    with db.transaction(conn):
        customers.add(conn, "Ann")
    for path in (isolated_database, isolated_database.with_name("crm.db-wal"),
                 isolated_database.with_name("crm.db-shm")):
        assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_a_new_report_file_is_private_and_an_existing_one_keeps_its_mode(crm, conn, tmp_path):
    with db.transaction(conn):
        customers.add(conn, "Ann")
    fresh = tmp_path / "customers.csv"
    assert crm("customer", "list", "--output", fresh).exit_code == 0
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
    shared = tmp_path / "shared.csv"
    shared.write_text("")
    shared.chmod(0o640)  # a cron user who wants the report readable by a group says so once
    assert crm("customer", "list", "--output", shared).exit_code == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o640


def test_the_data_folder_crm_creates_is_private(crm, tmp_path):
    path = tmp_path / "fresh" / "crm.db"
    assert crm("--db", path, "customer", "add", "Ann").exit_code == 0
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_forgotten_customers_are_not_offered_as_duplicates_of_each_other(crm, conn):
    with db.transaction(conn):
        for name in ("Ann Lee", "Bob Stone", "Ann Lee"):
            customers.add(conn, name)
    for ref in ("1", "2"):
        assert crm("customer", "forget", ref, "--yes").exit_code == 0
    result = crm("customer", "duplicates", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[1:] == []  # Ann Lee (3) has no live namesake left either


def test_forgetting_a_record_merged_away_points_at_where_the_person_now_is(crm, conn, person, isolated_database):
    dup = person + 1  # merged into `person` by the fixture; its details live on in person's note
    with unchanged(isolated_database):
        assert_error(crm("customer", "forget", str(dup), "--yes"), 1,
                     f"{dup} was merged into customer {person}", f"forget {person} instead")
    assert crm("customer", "forget", str(person), "--yes").exit_code == 0
    assert lingering(isolated_database) == []
