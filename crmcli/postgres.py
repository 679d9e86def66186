"""A crm database on a PostgreSQL server: the connection, and what differs from SQLite, in one place.

`--db postgresql://user@host:port/shop` (or $CRM_DB) selects it; libpq's own environment (PGHOST,
PGPASSWORD, ~/.pgpass, sslmode in the URL) applies as in psql. The driver is psycopg 3, imported by
this module only, and this module only when such an address is given: SQLite users pay nothing.

crm's queries are written once, in the SQL that SQLite and PostgreSQL share. PgConnection runs them
through psycopg with the part of sqlite3.Connection's interface that crm uses (execute, executemany,
in_transaction, close), and this module holds every difference that is not worth a second copy of a
query (`_REWRITES`, `_translate`): the placeholders, a few function names, SQLite's IS for NULL-safe
comparison with a parameter. Values come back as SQLite gives them: integers as int (a sum of bigint
is numeric in PostgreSQL), other numbers as float, text as str. The schema (tables, the history and
summary triggers in PL/pgSQL) is in postgres_schema.py.

Write transactions queue on one advisory lock, as SQLite's BEGIN IMMEDIATE queues writers on the file:
crm's check-then-write steps (an email already taken, the next free id) stay right with many writers,
no transaction fails half-way with a serialization error, and readers never wait (MVCC).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
import psycopg.adapt
import psycopg.errors
import psycopg.rows
import psycopg.types.numeric

from crmcli.errors import CrmError, DatabaseBusy, DatabaseUnusable

BUSY_TIMEOUT_SECONDS = 10.0
# pg_advisory_xact_lock's key for crm's write lock: "CRM1" as an integer, as db.APPLICATION_ID.
WRITE_LOCK_KEY = 0x43524D31


def shown(url: str) -> str:
    """The address without its password (after user: or as password=), for messages and `crm info`."""
    url = re.sub(r"^(\w+://[^:/@?]*):[^@/?]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&]*", r"\1***", url)


class Row(tuple):
    """A result row like sqlite3.Row: by position, or by column name (row["name"]), with keys()."""

    _names: dict[str, int] = {}
    _keys: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._keys)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"_names": {n: i for i, n in enumerate(names)}, "_keys": names, "__slots__": ()})


def _rows(cursor: Any) -> Any:
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(column.name for column in cursor.description))
    return lambda values: cls(values)


class _IntegralOrFloat(psycopg.adapt.Loader):
    """numeric as SQLite would give it: a whole number (sum() of integers) as int, else float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return float(text) if any(c in text for c in ".eEN") else int(text)


class _BoolAsInt(psycopg.types.numeric.IntDumper):
    """True and False stored as 1 and 0, in integer columns, as sqlite3 stores them."""

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


# SQLite-isms in the shared queries, each rewritten the same way for PostgreSQL (whole words only): the
# planner hints NOT INDEXED and INDEXED BY go; char() of a code point is chr(); json_each() of a list of
# ids is crm_json_ids() (postgres_schema); the temp schema is pg_temp (an index takes its table's);
# group_concat(x, sep) is string_agg; instr(s, t) is strpos; `a IS ?` / `a IS NOT :name` compare
# NULL-safely, IS [NOT] DISTINCT FROM.
_REWRITES = [
    (re.compile(r"\b(?:NOT INDEXED|INDEXED BY \w+)"), ""),  # SQLite's planner hints; PostgreSQL plans its own
    (re.compile(r"\bchar\((\d+)\)"), r"chr(\1)"),
    (re.compile(r"\bjson_each\(\?\)"), "crm_json_ids(?)"),
    (re.compile(r"\b(CREATE INDEX IF NOT EXISTS )temp\."), r"\1"),
    (re.compile(r"\btemp\.(\w)"), r"pg_temp.\1"),
    (re.compile(r"\bgroup_concat\(", re.IGNORECASE), "string_agg("),
    (re.compile(r"\binstr\(", re.IGNORECASE), "strpos("),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),  # SQLite's INTEGER holds 64 bits, PostgreSQL's 32
    (re.compile(r"\bIS NOT (\?|:\w+)"), r"IS DISTINCT FROM \1"),
    (re.compile(r"\bIS (\?|:\w+)"), r"IS NOT DISTINCT FROM \1"),
]
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|::|:(\w+)|\?|%|[^'\"?:%-]+|.", re.DOTALL)


@functools.lru_cache(maxsize=1024)
def _translate(query: str, with_params: bool) -> str:
    """crm's SQL (sqlite3's ? and :name placeholders) as psycopg runs it (%s, %(name)s, every % doubled);
    a ? or :name inside quotes is text, not a placeholder."""
    for pattern, replacement in _REWRITES:
        query = pattern.sub(replacement, query)
    if not with_params:
        return query  # psycopg leaves a query without parameters as it is, % included
    out = []
    for match in _TOKENS.finditer(query):
        token = match.group(0)
        if token == "?":
            out.append("%s")
        elif match.group(1):
            out.append(f"%({match.group(1)})s")
        else:
            out.append(token.replace("%", "%%"))  # psycopg reads % everywhere, in quoted text too
    return "".join(out)


class PgConnection:
    """A psycopg connection with the sqlite3.Connection methods crm calls. Autocommit, as crm opens
    SQLite (isolation_level=None): transactions are the explicit ones of db.transaction and db.snapshot."""

    backend = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any], url: str):
        self.raw = raw
        self.url = url
        self.row_factory: object = None  # accepted for sqlite3's sake; rows are always Row

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in (psycopg.pq.TransactionStatus.INTRANS,
                                                     psycopg.pq.TransactionStatus.INERROR)

    def execute(self, query: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        try:
            return self.raw.execute(_translate(query, bool(params)), params or None)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url) from None

    def executemany(self, query: str, params: Iterable[Sequence[Any] | dict[str, Any]]) -> Any:
        cursor = self.raw.cursor()
        try:
            cursor.executemany(_translate(query, True), params)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url) from None
        return cursor

    def tuples(self, query: str, params: dict[str, Any]) -> Any:
        cursor = self.raw.cursor(row_factory=psycopg.rows.tuple_row)
        try:
            return cursor.execute(_translate(query, True), params)
        except psycopg.Error as exc:
            raise translate_error(exc, self.url) from None

    def copy_in(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], conflict: str) -> int:
        """Add rows to `table` through COPY into a staging table and one INSERT ... SELECT, in file order,
        skipping those whose `conflict` column is already taken (as the multi-row INSERT ... ON CONFLICT
        DO NOTHING does on SQLite); returns how many were added. Inside the caller's transaction."""
        staging, names = f"crm_staging_{table}", ", ".join(columns)
        try:
            self.raw.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
                             f"SELECT {names}, 0::bigint AS crm_line FROM {table} WITH NO DATA")
            self.raw.execute(f"TRUNCATE {staging}")
            with self.raw.cursor().copy(f"COPY {staging} ({names}, crm_line) FROM STDIN") as copy:
                for line, row in enumerate(rows):
                    copy.write_row((*row, line))
            added = self.raw.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ORDER BY crm_line "
                                     f"ON CONFLICT ({conflict}) DO NOTHING").rowcount
        except psycopg.Error as exc:
            raise translate_error(exc, self.url) from None
        return added

    def begin_write(self, busy_ms: int | None = None) -> None:
        """BEGIN, then crm's write lock (waiting up to the busy timeout, or busy_ms, as SQLite does)."""
        wait_ms = BUSY_TIMEOUT_SECONDS * 1000 if busy_ms is None else max(busy_ms, 1)  # 0 would wait forever
        self.execute("BEGIN")
        try:
            self.execute(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'")
            self.execute("SELECT pg_advisory_xact_lock(?)", (WRITE_LOCK_KEY,))
        except BaseException:
            self.raw.rollback()  # as a failed BEGIN IMMEDIATE leaves no transaction open on SQLite
            raise

    def begin_read(self) -> None:
        """A read transaction on one snapshot, as SQLite's BEGIN (deferred) gives in WAL mode."""
        self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")  # not READ ONLY: temp tables (duplicates)

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(url: str, named_by: str) -> PgConnection:
    """Open the crm database at the server address `url`, migrated to the latest schema."""
    try:
        raw = psycopg.connect(url, autocommit=True, connect_timeout=int(BUSY_TIMEOUT_SECONDS),
                              application_name="crm")
    except psycopg.Error as exc:
        raise DatabaseUnusable(_cannot_connect(exc, url, named_by)) from None
    raw.row_factory = _rows
    # The session's clock is the client's, as SQLite's 'localtime' is: the history triggers' stamps and
    # the days complaints have been open are in the shop's time, wherever the server is.
    offset = datetime.now().astimezone().utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    raw.execute(f"SET TIME ZONE INTERVAL '{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}' HOUR TO MINUTE")
    raw.adapters.register_loader("numeric", _IntegralOrFloat)
    raw.adapters.register_dumper(bool, _BoolAsInt)
    conn = PgConnection(raw, url)
    try:
        from crmcli import postgres_schema

        postgres_schema.check_and_migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _cannot_connect(exc: psycopg.Error, url: str, named_by: str) -> str:
    said = " ".join(str(exc).split())
    if "does not exist" in said and "database" in said:
        advice = "create it first (createdb NAME, or CREATE DATABASE in psql) or check the name"
    elif "password" in said or "authentication" in said:
        advice = "check the user and password (PGPASSWORD, ~/.pgpass, or the server's pg_hba.conf)"
    else:
        advice = "check that the server is running and the host, port and socket folder are right"
    return f"cannot connect to the PostgreSQL server {shown(url)} (given by {named_by}): {advice} ({said})"


def translate_error(exc: psycopg.Error, url: str) -> CrmError:
    """A server error in crm's terms: the user's problem (exit 3 or 1, in words), or crm's bug (raised as is)."""
    said = " ".join(str(exc).split())
    where = shown(url)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return DatabaseBusy(f"the database {where} is busy: another crm command is writing and did not let go "
                                f"within {BUSY_TIMEOUT_SECONDS:g} s. Try again when it has finished; nothing was "
                                f"changed ({said})")
    if isinstance(exc, psycopg.errors.RaiseException):
        return CrmError(f"the database {where} refused the change: a trigger in it says {said!r}. Nothing was changed")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege | psycopg.errors.ReadOnlySqlTransaction):
        return DatabaseUnusable(f"the server {where} refused access: {said}. Nothing was changed")
    if isinstance(exc, psycopg.errors.DiskFull | psycopg.errors.OutOfMemory):
        return DatabaseUnusable(f"the server {where} is out of room: {said}. Nothing was changed")
    if isinstance(exc, psycopg.OperationalError):
        return DatabaseUnusable(f"lost the connection to the PostgreSQL server {where}, or it stopped the command: "
                                f"{said}. The server keeps a command whole or not at all")
    # Anything else is crm's own mistake on this engine (a query PostgreSQL does not take): said as such,
    # with the server's words, rather than as a traceback; the transaction is rolled back.
    return DatabaseUnusable(f"the PostgreSQL server {where} could not run crm's query: another program changed "
                            f"crm's tables or triggers, or it is a gap in crm's PostgreSQL support (please report "
                            f"it); nothing was changed ({type(exc).__name__}: {said})")


def tables(conn: PgConnection) -> Iterator[str]:
    """The names of the tables in the connection's schema."""
    for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"):
        yield row[0]


def vacuum(conn: Any, names: Iterable[str]) -> None:
    """VACUUM the tables of the server connection `conn`, outside any transaction: the dead row versions
    an erase left are removed."""
    assert isinstance(conn, PgConnection)
    conn.execute(f"VACUUM {', '.join(names)}")
