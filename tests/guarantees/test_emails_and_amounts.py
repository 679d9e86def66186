"""Issue 11: one email is one person as mail systems see it, look-alikes never merge two;
amounts are bounded so that totals fit in 64 bits, and what other programs wrote
(a NULL purchase, amounts beyond the bound) never crashes a report."""

from __future__ import annotations

import sqlite3

import pytest

from crmcli import customers, db, values
from helpers import assert_error, db_dump, freeze, unchanged

KELVIN_KATE = "\u212aate@example.com"  # U+212A KELVIN SIGN, then "ate"


@pytest.fixture(autouse=True)
def frozen(monkeypatch, isolated_database):
    db.connect(isolated_database).close()  # the database exists: `unchanged` compares real content
    return freeze(monkeypatch)  # 2024-06-15T12:00:00


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def older_database(path, monkeypatch):
    """A database as crmcli at schema 4 left it (before M005); returns an open raw connection."""
    for made_by_the_fixture in path.parent.glob(path.name + "*"):
        made_by_the_fixture.unlink()
    with monkeypatch.context() as older_crmcli:
        older_crmcli.setattr(db, "MIGRATIONS", db.MIGRATIONS[:4])
        db.connect(path).close()
    return sqlite3.connect(path, isolation_level=None)


# --- item 6: emails ------------------------------------------------------------------------------

def test_strasse_and_strasse_with_eszett_are_two_customers(crm):
    ok(crm("customer", "add", "Straße GmbH", "--email", "info@straße.de"))
    ok(crm("customer", "add", "Strasse AG", "--email", "info@strasse.de"))
    assert ok(crm("customer", "show", "info@STRAßE.DE", "--format", "json")).stdout.count("Straße GmbH") >= 1
    assert "Strasse AG" in ok(crm("customer", "show", "INFO@STRASSE.DE", "--format", "json")).stdout
    # The domain's ASCII form is the same domain.
    assert "Straße GmbH" in ok(crm("customer", "show", "info@xn--strae-oqa.de", "--format", "json")).stdout


def test_a_kelvin_sign_never_resolves_to_the_letter_k(crm, isolated_database):
    ok(crm("customer", "add", "Kate", "--email", "kate@example.com"))
    assert "Kate" in ok(crm("customer", "show", "KATE@Example.com", "--format", "json")).stdout
    with unchanged(isolated_database):
        assert_error(crm("customer", "show", KELVIN_KATE), 1, "no customer with email")
    # A customer of its own, not a conflict with kate@.
    ok(crm("customer", "add", "Kelvin", "--email", KELVIN_KATE))
    assert "Kelvin" in ok(crm("customer", "show", KELVIN_KATE, "--format", "json")).stdout


def test_import_on_conflict_update_never_overwrites_a_look_alike(crm, conn, tmp_path):
    ok(crm("customer", "add", "Kate", "--email", "kate@example.com", "--phone", "111"))
    ok(crm("customer", "add", "Strasse AG", "--email", "info@strasse.de", "--phone", "222"))
    text = (f"name,email,phone\nKelvin Sign Kate,{KELVIN_KATE},999\nStraße GmbH,info@straße.de,888\n"
            "Kate Again,KATE@EXAMPLE.COM,333\n")
    result = ok(crm("customer", "import", write(tmp_path, "c.csv", text), "--on-conflict", "update"))
    assert "3 rows read, 2 added, 1 updated" in result.stderr
    kate, strasse = customers.get(conn, 1), customers.get(conn, 2)
    assert (kate["name"], kate["email"], kate["phone"]) == ("Kate Again", "KATE@EXAMPLE.COM", "333")
    assert (strasse["name"], strasse["email"], strasse["phone"]) == ("Strasse AG", "info@strasse.de", "222")
    assert customers.get(conn, customers.resolve(conn, KELVIN_KATE))["name"] == "Kelvin Sign Kate"
    assert customers.get(conn, customers.resolve(conn, "info@straße.de"))["name"] == "Straße GmbH"
    # Nor are they "the same email" to the duplicate finder.
    pairs = ok(crm("customer", "duplicates", "--format", "csv")).stdout
    assert "same email" not in pairs


def test_interaction_import_finds_customers_by_the_same_rule(crm, conn, tmp_path):
    ok(crm("customer", "add", "Kate", "--email", "kate@example.com"))
    ok(crm("customer", "add", "Straße GmbH", "--email", "info@straße.de"))
    good = ("customer_email,type,at,amount\nKATE@example.COM,purchase,2024-01-02,5\n"
            "info@XN--STRAE-OQA.de,purchase,2024-01-03,6\n")
    ok(crm("interaction", "import", write(tmp_path, "i.csv", good)))
    assert [tuple(r) for r in conn.execute("SELECT customer_id, amount_cents FROM interactions ORDER BY id")] == [
        (1, 500), (2, 600)]
    for look_alike in (KELVIN_KATE, "info@strasse.de"):
        bad = f"customer_email,type,at,amount\n{look_alike},purchase,2024-01-04,7\n"
        result = crm("interaction", "import", write(tmp_path, "bad.csv", bad))
        assert_error(result, 1, "line 2, column customer_email: no customer has this email")


def test_the_upgrade_recomputes_every_email_key_with_the_new_rule(isolated_database, monkeypatch):
    raw = older_database(isolated_database, monkeypatch)
    old = [("Straße GmbH", "info@straße.de"), ("Élise", "ÉLISE@example.com"), ("Kate", "Kate@Example.com")]
    for name, email in old:  # as crmcli 4 wrote them: the key was the casefolded email
        raw.execute("INSERT INTO customers (name, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (name, email, values.fold(email), "2024-01-01", "2024-01-01"))
    assert raw.execute("SELECT email_key FROM customers WHERE id = 1").fetchone()[0] == "info@strasse.de"
    history_before = raw.execute("SELECT count(*) FROM customer_history").fetchone()[0]
    raw.close()
    conn = db.connect(isolated_database)
    keys = [tuple(r) for r in conn.execute("SELECT email, email_key FROM customers ORDER BY id")]
    assert keys == [(email, values.email_key(email)) for _, email in old]
    assert keys[0][1] == "info@xn--strae-oqa.de"
    with pytest.raises(Exception, match="no customer with email"):
        customers.resolve(conn, "info@strasse.de")  # the key that used to steal it
    assert customers.resolve(conn, "ÉLISE@example.com") == 2
    with pytest.raises(Exception, match="no customer with email"):
        customers.resolve(conn, "élise@example.com")  # beyond ASCII, case is part of the local part
    assert customers.resolve(conn, "kate@example.com") == 3
    # Recomputing a key is not a change to the customer: no history rows.
    assert conn.execute("SELECT count(*) FROM customer_history").fetchone()[0] == history_before
    conn.close()


def test_two_old_rows_that_are_one_email_now_are_kept_and_listed_as_duplicates(crm, isolated_database, monkeypatch):
    """Under the old rule info@straße.de and info@xn--strae-oqa.de differed; they are one mailbox."""
    raw = older_database(isolated_database, monkeypatch)
    for name, email in (("Unicode Form", "info@straße.de"), ("ASCII Form", "info@xn--strae-oqa.de")):
        raw.execute("INSERT INTO customers (name, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (name, email, values.fold(email), "2024-01-01", "2024-01-01"))
    raw.close()
    conn = db.connect(isolated_database)
    rows = [tuple(r) for r in conn.execute("SELECT id, email, email_key FROM customers ORDER BY id")]
    assert rows[0] == (1, "info@straße.de", "info@xn--strae-oqa.de")  # the older keeps the key
    assert rows[1][:2] == (2, "info@xn--strae-oqa.de") and rows[1][2] != rows[0][2]  # nothing lost
    assert customers.resolve(conn, "info@xn--strae-oqa.de") == 1
    conn.close()
    assert "same email" in ok(crm("customer", "duplicates", "--format", "csv")).stdout
    ok(crm("customer", "merge", "1", "2", "--yes"))
    assert "ASCII Form" not in ok(crm("customer", "list", "--format", "csv")).stdout
