"""A command that fails half-way, after some of its writes, leaves the database exactly as it was.

User mistakes are checked before anything is written (test_cli.py checks every one of them with a
dump); here the failure is injected *between* the writes of one command, where only the
transaction can save the file.
"""


import pytest
from helpers import assert_error, db_dump, freeze, other_program, unchanged

from crmcli import customers, db, feedback, interactions


@pytest.fixture(autouse=True)
def frozen(monkeypatch):
    return freeze(monkeypatch)


@pytest.fixture
def shop(conn):
    with db.transaction(conn):
        ann = customers.add(conn, "Ann", email="ann@example.com", tags=["vip"])
        interactions.add(conn, ann, "purchase", at="2024-05-01", amount="10")
        feedback.add(conn, ann, "complaint", at="2024-05-02")
    return conn


def failed_with_exit_1(result, fragment):
    """A trigger's RAISE(ABORT) fails the command cleanly: exit 1, the trigger's words on stderr,
    nothing on stdout, no traceback."""
    assert_error(result, 1, fragment)


def install_failing_trigger(path, when: str, table: str, action: str = "refuse") -> None:
    """A trigger that makes one of a command's later statements fail (it is part of the 'before' state too),
    in the engine's own trigger language: "refuse" says 'injected failure' (a refusal: exit 1), "break"
    reads a table that does not exist (an error of the database: exit 3)."""
    raw = other_program(path)
    if str(path).startswith("postgresql://"):
        body = {"refuse": "RAISE EXCEPTION 'injected failure'", "break": "PERFORM * FROM missing_table"}[action]
        raw.execute(f"CREATE FUNCTION injected() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; "
                    "RETURN NULL; END $$")
        raw.execute(f"CREATE TRIGGER injected {when} ON {table} FOR EACH ROW EXECUTE FUNCTION injected()")
    else:
        body = {"refuse": "SELECT RAISE(ABORT, 'injected failure')",
                "break": "INSERT INTO customer_tags SELECT * FROM missing_table"}[action]
        raw.execute(f"CREATE TRIGGER injected {when} ON {table} BEGIN {body}; END")
    raw.close()


def test_customer_add_failing_after_the_customer_row_writes_nothing(crm, shop, isolated_database):
    install_failing_trigger(isolated_database, "BEFORE INSERT", "customer_tags")
    with unchanged(isolated_database):
        result = crm("customer", "add", "Bob", "--email", "bob@example.com", "--tag", "new")
    failed_with_exit_1(result, "injected failure")
    # Without the tag, the same command works: the failure really came after the customer row.
    assert crm("customer", "add", "Bob", "--email", "bob@example.com").exit_code == 0


def test_customer_edit_failing_after_the_update_changes_nothing(crm, shop, isolated_database):
    install_failing_trigger(isolated_database, "BEFORE INSERT", "customer_tags")
    with unchanged(isolated_database):
        result = crm("customer", "edit", "1", "--name", "Ann Changed", "--email", "new@example.com",
                     "--add-tag", "local")
    failed_with_exit_1(result, "injected failure")
    assert customers.get(shop, 1)["name"] == "Ann"


def test_customer_delete_failing_in_the_cascade_deletes_nothing(crm, shop, isolated_database):
    install_failing_trigger(isolated_database, "BEFORE DELETE", "feedback")
    with unchanged(isolated_database):
        result = crm("customer", "delete", "1", "--yes")
    failed_with_exit_1(result, "injected failure")
    assert shop.execute("SELECT count(*) FROM interactions").fetchone()[0] == 1


def test_an_operational_error_half_way_is_exit_3_and_changes_nothing(crm, shop, isolated_database, backend):
    # RAISE(IGNORE) cannot make an OperationalError; a trigger touching a missing table does, at run time.
    install_failing_trigger(isolated_database, "AFTER INSERT", "customers", "break")
    with unchanged(isolated_database):
        result = crm("customer", "add", "Bob")
    assert result.exit_code == 3, (result.stderr, result.exception)
    said = {"sqlite": "database unusable", "postgresql": "another program changed crm's tables or triggers"}
    assert said[backend] in result.stderr and "missing_table" in result.stderr
    assert "Traceback" not in result.stderr


class Injected(Exception):
    pass


def fail_on_call(monkeypatch, target, n, exc=Injected):
    """Make `target` (a dotted path) raise `exc` on its n-th call; earlier calls work."""
    module_name, name = target.rsplit(".", 1)
    module = __import__(module_name, fromlist=[name])
    real = getattr(module, name)
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise exc("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_demo_failing_half_way_leaves_an_empty_database_empty(crm, conn, isolated_database, monkeypatch):
    calls = fail_on_call(monkeypatch, "crmcli.feedback.add", 3)
    with unchanged(isolated_database):
        result = crm("demo", "--customers", "20")
    assert result.exit_code == 1 and isinstance(result.exception, Injected), result.exception
    assert calls["n"] == 3  # customers and interactions were already inserted when it failed
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 0


def test_demo_force_failing_half_way_keeps_the_old_data(crm, shop, isolated_database, monkeypatch):
    fail_on_call(monkeypatch, "crmcli.interactions.add", 10)
    with unchanged(isolated_database):
        result = crm("demo", "--customers", "20", "--force")
    assert result.exit_code == 1 and isinstance(result.exception, Injected), result.exception
    assert [r["name"] for r in customers.list_customers(shop)] == ["Ann"]


def test_interrupting_demo_with_ctrl_c_changes_nothing(crm, shop, isolated_database, monkeypatch):
    calls = fail_on_call(monkeypatch, "crmcli.customers.add", 5, exc=KeyboardInterrupt)
    with unchanged(isolated_database):
        result = crm("demo", "--customers", "20", "--force")
    assert calls["n"] == 5  # four customers were in when Ctrl-C came
    assert result.exit_code == 130, (result.exit_code, result.stderr, result.exception)
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr and result.stdout == ""


def test_feedback_resolve_failing_changes_nothing(crm, shop, isolated_database, monkeypatch):
    fail_on_call(monkeypatch, "crmcli.feedback._days_between", 1)
    with unchanged(isolated_database):
        result = crm("feedback", "resolve", "1")
    assert result.exit_code == 1 and isinstance(result.exception, Injected), result.exception
    assert feedback.list_feedback(shop, open_only=True)[0]["id"] == 1


def test_the_checks_see_a_change_when_there_is_one(crm, shop, isolated_database):
    before = db_dump(isolated_database)
    assert crm("customer", "add", "Bob", "--tag", "x").exit_code == 0
    assert db_dump(isolated_database) != before


def test_ctrl_c_in_the_middle_of_a_write_rolls_it_back_and_exits_130(crm, conn, isolated_database, monkeypatch):
    from crmcli import history

    with db.transaction(conn):
        keep, dup = customers.add(conn, "Ann Lee"), customers.add(conn, "Ann Lee", phone="555")
        interactions.add(conn, dup, "purchase", at="2024-01-02", amount="10")

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt  # after the merge has moved the purchase and deleted DUP

    monkeypatch.setattr(history, "mark_merge", ctrl_c)
    with unchanged(isolated_database):
        result = crm("customer", "merge", str(keep), str(dup), "--yes")
    assert result.exit_code == 130
    assert "interrupted" in result.stderr and "Traceback" not in result.stderr


def test_a_failed_transaction_is_rolled_back_on_the_connection_that_stays_open(conn, isolated_database):
    """The ROLLBACK itself, where closing the connection cannot stand in for it: the same connection
    goes on (as a long command, a test or a Python caller's does). Its own reads must not see the
    failed writes, it must be out of the transaction, the write lock must be free for others at once,
    and its next transaction must work."""
    with db.transaction(conn):
        customers.add(conn, "Ann")
    before = db_dump(isolated_database)
    with pytest.raises(Injected), db.transaction(conn):
        customers.add(conn, "Bob")
        interactions.add(conn, 1, "purchase", at="2024-05-01", amount="10")
        raise Injected("half-way")
    assert not conn.in_transaction
    assert [row[0] for row in conn.execute("SELECT name FROM customers")] == ["Ann"]
    assert conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == 0
    other = db.connect(isolated_database)
    try:
        with db.transaction(other, busy_ms=0):  # busy at once if the failed transaction still held the lock
            pass
    finally:
        other.close()
    assert db_dump(isolated_database) == before
    with db.transaction(conn):
        customers.add(conn, "Cy")
    assert [row[0] for row in conn.execute("SELECT name FROM customers ORDER BY id")] == ["Ann", "Cy"]
