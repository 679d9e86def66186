"""Shared test helpers: a fixed clock, and proof that a failed command left the database as it was."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import sqlite3
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

FROZEN_NOW = datetime(2024, 6, 15, 12, 0, 0)


def freeze(monkeypatch, moment: datetime = FROZEN_NOW) -> datetime:
    """Make crmcli's clock (crmcli.values.now) return `moment`."""
    monkeypatch.setattr("crmcli.values.now", lambda: moment)
    return moment


def file_digest(path: Path) -> str | None:
    """sha256 of the file's bytes, or None when it does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def db_dump(path: Path | str, without: tuple[str, ...] = ()) -> str:
    """Everything in the database as SQL text, plus the header fields SQL dumps leave out; the tables
    `without` left out. On a PostgreSQL server (path is its address): every row of every table, in order,
    and the schema version."""
    if str(path).startswith("postgresql://"):
        return _server_dump(str(path), without)
    path = Path(path)
    if not path.exists():
        return "<no database file>"
    conn = sqlite3.connect(path)
    try:
        header = [conn.execute(f"PRAGMA {name}").fetchone()[0] for name in ("user_version", "application_id")]
        lines = [line for line in conn.iterdump() if not any(f'"{table}"' in line for table in without)]
        return f"-- header {header}\n" + "\n".join(lines)
    finally:
        conn.close()


def _server_dump(url: str, without: tuple[str, ...] = ()) -> str:
    """Read with the driver itself, not crm's connect (which would refuse, or make, a schema)."""
    import psycopg

    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")]
        lines = []
        for table in (name for name in tables if name not in without):
            lines.append(f"-- {table}")
            lines += [repr(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY {table}")]
        return "\n".join(lines)


@contextmanager
def unchanged(path: Path | str):
    """Assert that the database at `path` has the same content afterwards as before."""
    before = db_dump(path)
    yield
    after = db_dump(path)
    assert after == before, "the failed command changed the database"


def assert_error(result, code: int, *fragments: str) -> None:
    """Exit code and message together: the message on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    if code in (1, 3):
        # A CrmError reached the one error boundary; anything else would be a crash.
        assert isinstance(result.exception, SystemExit), result.exception


def command_tree() -> list[tuple[tuple[str, ...], object]]:
    """(path, click command) for every leaf command of crm, e.g. (("customer", "add"), <command>)."""
    import typer

    from crmcli.cli import app

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                yield from walk(sub, (*path, name))
        else:
            yield path, command

    return list(walk(typer.main.get_command(app), ()))


def spreadsheet_would_run(cell: str) -> bool:
    """The tests' own statement of crm's formula rule (crmcli/transfer/csvcells.py has the code): a cell
    needs an apostrophe when it starts with = @ tab or CR, or with + or - unless it is all a plain
    number (-12.50) or a phone number (+, a digit, then digits, spaces and - . ( ), a digit last, 7 digits
    or more). Written apart from the code so that a change to either shows."""
    if not cell or cell[0] not in "=+-@\t\r":
        return False
    if cell[0] in "=@\t\r":
        return True
    sign, rest = cell[0], cell[1:]
    whole, dot, fraction = rest.partition(".")
    if whole and all(c in "0123456789" for c in whole) and (
            not dot or (fraction and all(c in "0123456789" for c in fraction))):
        return False  # a plain number
    digits = sum(c in "0123456789" for c in rest)
    phone = (sign == "+" and rest[:1] in tuple("0123456789") and rest[-1:] in tuple("0123456789")
             and all(c in "0123456789 ().-" for c in rest) and digits >= 7)
    return not phone


# The tests' PostgreSQL server: CRM_TEST_POSTGRES=postgresql://user@host/postgres (.ci/run starts one),
# else a throwaway cluster of conftest's own where the server programs are installed. A test on it gets a
# new database there, made from a template crm has already made its own (a file copy, not a schema).
_pg_count = itertools.count()


def pg_admin(base: str):
    import psycopg

    return psycopg.connect(base, autocommit=True)


def pg_url(base: str, name: str) -> str:
    """The address of the database `name` on the server of `base`."""
    import psycopg.conninfo

    parts = psycopg.conninfo.conninfo_to_dict(base)
    query = "&".join(f"{k}={v}" for k, v in parts.items() if k not in ("dbname", "user", "password"))
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}/{name}?{query}"


def new_pg_database(base: str, template: str) -> str:
    name = f"crm_test_{os.getpid()}_{next(_pg_count)}"
    with pg_admin(base) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    return pg_url(base, name)


def drop_pg_database(base: str, url: str) -> None:
    """Drop the test's database (WITH FORCE: a connection the test left open does not keep it)."""
    import psycopg.conninfo

    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with pg_admin(base) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class _AnotherServerClient:
    """Another program on the server: psycopg itself (none of crm's code), autocommit like the sqlite3
    connection other_program gives for a file, with sqlite3's ? placeholders so a test's SQL serves both."""

    def __init__(self, url: str):
        import psycopg

        self.raw = psycopg.connect(url, autocommit=True)

    def execute(self, sql, params=()):
        return self.raw.execute(sql.replace("?", "%s"), tuple(params) or None)

    def commit(self):
        pass

    def rollback(self):
        pass

    def close(self):
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def other_program(database):
    """A connection to the test's database as another program opens it, without crm: the sqlite3 module
    (no function of crm's registered) on a file, psycopg on a server. Each statement commits."""
    if str(database).startswith("postgresql://"):
        return _AnotherServerClient(str(database))
    return sqlite3.connect(database, isolation_level=None)


@contextmanager
def another_command_writing(database):
    """Another crm command in the middle of a write: its own connection holds the write lock meanwhile."""
    from crmcli import db

    writer = db.connect(database)
    try:
        with db.transaction(writer):  # it writes nothing, so its commit changes nothing
            yield
    finally:
        writer.close()


def _pg_name(url: str) -> str:
    import psycopg.conninfo

    return psycopg.conninfo.conninfo_to_dict(url)["dbname"]


def database_beside(database, name: str):
    """A new, empty database beside the test's own, on the same engine: a file path in its folder (not made
    yet), or a database made on the same server (left for conftest to drop with the test's own)."""
    if not str(database).startswith("postgresql://"):
        return Path(database).with_name(f"{name}.db")
    url = pg_url(database, f"{_pg_name(database)}_{name}")
    empty_database(url)
    return url


def empty_database(database) -> None:
    """No database at all where `database` was: the file and its companions removed; on a server, the
    database dropped and made again, empty (crm makes its tables at first use)."""
    if str(database).startswith("postgresql://"):
        with pg_admin(pg_url(database, "postgres")) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {_pg_name(database)} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {_pg_name(database)}")
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def copy_database(source, target) -> None:
    """Make `target` a copy of the closed database `source` (no connection to it open): the file copied
    (with no -wal beside it), or on a server the database made again from `source` as its template."""
    if str(source).startswith("postgresql://"):
        with pg_admin(pg_url(source, "postgres")) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {_pg_name(target)} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {_pg_name(target)} TEMPLATE {_pg_name(source)}")
        return
    assert not Path(f"{source}-wal").exists()
    empty_database(target)
    shutil.copyfile(source, target)


def undo_m011(conn) -> None:
    """Put back schema 10's interactions_type_at (type, at), for a test that rewinds a database to an older
    version (the caller sets the version and holds the transaction)."""
    conn.execute("DROP INDEX interactions_type_at_customer")
    conn.execute("CREATE INDEX interactions_type_at ON interactions (type, at)")
