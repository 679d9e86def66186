"""Opening the database: where it lives, its pragmas, transactions, and SQLite's errors in words.

One crmcli database is one SQLite file. It is marked as ours by PRAGMA
application_id, and its schema version is PRAGMA user_version (the schema itself is
in migrations.py). A file that is not SQLite, a SQLite file of another program, or a
database written by a newer crmcli is refused before anything is written to it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from crmcli.errors import DatabaseUnusable

if TYPE_CHECKING:
    from crmcli.postgres import PgConnection


class Connection(Protocol):
    """What crm's code talks to: an sqlite3.Connection, or a postgres.PgConnection, which offers the same
    methods over a PostgreSQL server. Code that needs SQLite itself (backup, the -wal file) says
    sqlite3.Connection."""

    row_factory: Any

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...

    def close(self) -> None: ...


# "CRM1" as a 32-bit integer: marks the file as a crmcli database.
APPLICATION_ID = 0x43524D31
BUSY_TIMEOUT_SECONDS = 10.0
SQLITE_HEADER = b"SQLite format 3\x00"


# A database server's address of another kind than PostgreSQL's (mysql://host/shop and the like), not a
# file name: taken as a path it would make a folder called "mysql:" and an empty database in it. Such a
# value is refused, naming it (a path keeps the "scheme:/" after Path()). postgresql:// is a server crm uses.
_SERVER_SCHEMES = ("mysql", "mariadb", "sqlite", "mssql", "oracle", "redis", "mongodb")


def is_server_address(text: str) -> bool:
    """Is `text` (--db, $CRM_DB) a PostgreSQL server's address (postgresql://...) rather than a file path?"""
    scheme, colon, rest = str(text).partition(":")
    return bool(colon) and rest.startswith("//") and scheme.lower() in ("postgresql", "postgres")


def refuse_server_address(text: str, named_by: str) -> None:
    """Raise DatabaseUnusable when `text` (--db or $CRM_DB) is the URL of a server crm cannot use."""
    scheme, colon, rest = str(text).partition(":")
    if colon and rest.startswith("/") and scheme.lower().split("+")[0] in _SERVER_SCHEMES:
        raise DatabaseUnusable(
            f"{named_by} is {text!r}, a database server's address: crm keeps its data in one SQLite file or on "
            "a PostgreSQL server (postgresql://user@host/dbname). Give a file path or such an address instead, "
            "e.g. --db ~/shop/crm.db")
    if colon and rest.startswith("/") and scheme.lower().startswith("postgres") and not is_server_address(text):
        raise DatabaseUnusable(f"{named_by} is {text!r}: a PostgreSQL server's address is written postgresql://, "
                               "with two slashes and no driver name, e.g. postgresql://user@host:5432/shop")


def default_path() -> Path:
    """`CRM_DB` if set, else crm.db in the per-user data directory."""
    env = os.environ.get("CRM_DB")
    if env:
        return Path(env).expanduser()
    # platformdirs is imported here, not at module level: only commands that
    # open the database pay for it.
    import platformdirs

    return platformdirs.user_data_path("crmcli", appauthor=False) / "crm.db"


def database_problem(exc: BaseException, path: object) -> tuple[str, bool]:
    """An SQLite error in words a shop owner can act on, naming the database file.

    Returns (message, is_damage). SQLite's own text is kept at the end in brackets,
    for whoever has to dig further. `exc` is an sqlite3.Error; its error name
    (SQLITE_BUSY, SQLITE_FULL...) says what happened better than its text.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    said = str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in said:
        return (f"the database {path} is busy: another crm command or program is using it and did not let go "
                f"within {BUSY_TIMEOUT_SECONDS:g} s. Try again when it has finished; nothing was changed "
                f"({said})"), False
    if name.startswith("SQLITE_READONLY") or "readonly database" in said:
        folder = os.path.dirname(os.path.abspath(str(path))) or "."
        if os.path.exists(str(path)) and not os.access(str(path), os.W_OK):
            where = f"the file is read-only; allow writing (chmod u+w {path}) or work on a copy"
        elif not os.access(folder, os.W_OK):
            name = os.path.basename(str(path))
            where = (f"its folder {folder} is read-only, and SQLite needs to write its journal files "
                     f"({name}-wal, {name}-shm) beside it; allow writing there or move the database")
        else:
            where = "the file was opened read-only or is on a read-only disk"
        return f"cannot write to the database {path}: {where}. Nothing was changed ({said})", False
    if name.startswith("SQLITE_FULL") or "database or disk is full" in said:
        return (f"the disk holding the database {path} is full (or the file reached a size limit), so the "
                f"change could not be saved; nothing was changed. Free some space and try again ({said})"), False
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in said:
        return (f"reading or writing the database {path} failed at the disk: it may be full, removed, failing, or "
                f"over a size limit. Nothing was changed; check the disk and try again ({said})"), False
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in said:
        return (f"cannot open the database {path}: its folder is missing or not readable and writable for you "
                f"({said})"), False
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in said or "not a database" in said:
        return (f"the database {path} is damaged (not a complete SQLite file); it was left as it is. Restore "
                f"your last backup with `crm restore BACKUP` ({said})"), True
    if name.startswith(("SQLITE_PERM", "SQLITE_AUTH")):
        return f"the database {path} refused access ({said})", False
    return f"the database {path} could not be used ({said})", False


def database_files(path: Path) -> tuple[Path, ...]:
    """The database file and the companions SQLite keeps beside it, present or not."""
    path = Path(path).expanduser()
    return (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal")))


def make_private_folders(folder: Path) -> None:
    """Create `folder` and any missing parents, each readable by its owner only (0700).
    (Path.mkdir(parents=True, mode=...) gives the mode to the last folder only.)"""
    folder = Path(folder)
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for part in reversed(missing):
        with contextlib.suppress(FileExistsError):  # made at the same moment by another process
            part.mkdir(mode=0o700)


def _server(conn: Connection) -> PgConnection:
    """A connection that is not SQLite's is a PostgreSQL server's (psycopg is loaded already then)."""
    from crmcli.postgres import PgConnection

    assert isinstance(conn, PgConnection), type(conn)
    return conn


def is_server(conn: Connection) -> bool:
    return not isinstance(conn, sqlite3.Connection)


def tuples(conn: Connection, query: str, params: dict[str, Any]) -> Any:
    """A cursor over the query's rows as plain tuples (numpy reads them faster than rows with names)."""
    if isinstance(conn, sqlite3.Connection):
        cursor = conn.cursor()
        cursor.row_factory = None
        return cursor.execute(query, params)
    return _server(conn).tuples(query, params)


@contextmanager
def transaction(conn: Connection, *, busy_ms: int | None = None) -> Iterator[Connection]:
    """One write transaction: all of it commits, or none of it.

    BEGIN IMMEDIATE takes the write lock up front, so two writers queue on the
    busy timeout instead of failing half-way with "database is locked".
    busy_ms: wait this long for the lock instead of the busy timeout.
    """
    with _busy_timeout(conn, busy_ms):
        if isinstance(conn, sqlite3.Connection):
            conn.execute("BEGIN IMMEDIATE")
        else:
            _server(conn).begin_write(busy_ms)  # the same queue of writers on a PostgreSQL server
        try:
            yield conn
        except BaseException:
            # After a disk-full or I/O error SQLite may have rolled back already; a second
            # ROLLBACK would fail and hide the error that matters.
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextmanager
def _busy_timeout(conn: Connection, busy_ms: int | None) -> Iterator[None]:
    if busy_ms is None or not isinstance(conn, sqlite3.Connection):
        yield
        return
    usual = conn.execute("PRAGMA busy_timeout").fetchone()[0]
    conn.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(usual)}")


@contextmanager
def snapshot(conn: Connection) -> Iterator[Connection]:
    """A read transaction: every query inside sees the same committed state."""
    if isinstance(conn, sqlite3.Connection):
        conn.execute("BEGIN")
    else:
        _server(conn).begin_read()
    try:
        yield conn
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def connect(path: Path | str, *, create: bool = True, named_by: str | None = None) -> Connection:
    """Open the crmcli database at `path`, a file (connect_file) or a PostgreSQL server's address."""
    if is_server_address(str(path)):
        from crmcli import postgres

        return postgres.connect(str(path), named_by or "--db")
    refuse_server_address(str(path), named_by or "the database")  # e.g. Path("postgresql://...") lost a slash
    return connect_file(Path(path), create=create, named_by=named_by)


def connect_file(path: Path, *, create: bool = True, named_by: str | None = None) -> sqlite3.Connection:
    """Open the crmcli database file at `path`, migrated to the latest schema.

    create=True (commands that write, `crm init`): a missing file is created, in private 0700 folders.
    create=False (commands that only read): a missing file is an error naming the path, and no file or
    folder is made, so a mistyped --db or CRM_DB in a cron job fails loudly instead of reporting on a new,
    empty database. named_by: where the path came from (`--db`, `$CRM_DB`), for that error.
    """
    path = Path(path).expanduser()
    if create:
        _create_if_missing(path)
    elif not os.path.lexists(path):
        given = f" (given by {named_by})" if named_by else ""
        raise DatabaseUnusable(f"no database at {path}{given}: this command only reads, so it creates none. "
                               "Check --db and $CRM_DB for a typo; `crm init` creates an empty database there "
                               "(so does any command that adds data)")
    _check_header(path)
    _check_leftover_wal(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    except sqlite3.Error as exc:
        raise DatabaseUnusable(f"cannot open database {path}: {exc}") from None
    conn.row_factory = sqlite3.Row
    try:
        _check_identity(conn, path)
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed command survives a power cut, not just a crash.
        conn.execute("PRAGMA synchronous = FULL")
        # Deleted and overwritten content is zeroed, not left in free pages: what
        # `crm customer forget` erases is gone from the file, as are old values of edits.
        conn.execute("PRAGMA secure_delete = ON")
        # migrations builds on this module's transaction(), so it is imported here, not at the top.
        from crmcli.migrations import migrate

        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _create_if_missing(path: Path) -> None:
    if path.exists():
        return
    try:
        make_private_folders(path.parent)
        # Create the file ourselves so it is born readable by its owner only;
        # SQLite gives the -wal and -shm files the same permissions.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
    except FileExistsError:
        pass  # another process created it at the same moment
    except OSError as exc:
        raise DatabaseUnusable(f"cannot create database {path}: {exc.strerror}") from None


def _check_header(path: Path) -> None:
    if not path.is_file():  # before opening it: reading a named pipe would wait forever
        raise DatabaseUnusable(f"{path} is not a regular file (a folder, device or pipe), so not a crmcli database")
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise DatabaseUnusable(f"cannot read database {path}: {exc.strerror}") from None
    if head and head != SQLITE_HEADER:
        raise DatabaseUnusable(f"{path} is not a crmcli database (not an SQLite file); it was left as it is")


def _check_leftover_wal(path: Path) -> None:
    """A -wal file that no open connection holds is replayed into the database by the next one to open
    it, and written into the file at its close. A -wal left by a crash belongs there; one copied from
    another database (or damaged) would mix two files' pages. So before the first real connection opens
    such a file, a read-only one (which never writes the database) replays it and checks the result."""
    wal = path.with_name(path.name + "-wal")
    try:
        if wal.stat().st_size <= _WAL_HEADER_BYTES:
            return
    except OSError:
        return  # no -wal: nothing to replay
    if _held_by_another_process(path.with_name(path.name + "-shm")):
        return  # in use by another crm: its -wal is live, not left over
    try:
        check = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_SECONDS)
        try:
            verdict = check.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            check.close()
    except sqlite3.OperationalError:
        return  # busy, or not readable: the real connection says so in words
    except sqlite3.DatabaseError:
        verdict = "damaged"
    if verdict != "ok":
        raise DatabaseUnusable(
            f"the database {path} does not agree with the write-ahead log beside it, {wal.name} (a -wal "
            f"copied from another database, or a damaged one); both were left as they are. If you copied "
            f"files, put the matching {wal.name} back; moving {wal.name} away opens the database as it was "
            f"at its last checkpoint, without the changes only that file holds"
        )


_WAL_HEADER_BYTES = 32
# SQLite's unix VFS: every connection to a WAL database holds a read lock on this byte of the -shm file
# (the "DMS" lock); a connection that can take it exclusively knows it is the only one (os_unix.c).
_SHM_DMS_BYTE = 128


def _held_by_another_process(shm: Path) -> bool:
    """Does another process have the database open? Asked with F_GETLK, which reads a lock without
    taking one: taking and dropping a lock of our own would drop SQLite's locks on the same file."""
    import fcntl
    import struct
    import sys

    if not sys.platform.startswith("linux"):
        return True  # struct flock differs between systems: assume in use, skip the check
    try:
        fd = os.open(shm, os.O_RDONLY)
    except OSError:
        return False  # no -shm: nobody has the database open
    try:
        # struct flock on Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _SHM_DMS_BYTE, 1, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        return struct.unpack("hhqqi4x", answer)[0] != fcntl.F_UNLCK
    except OSError:
        return True
    finally:
        os.close(fd)


def _check_identity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse another program's database or a newer crmcli's, before writing anything."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    except sqlite3.OperationalError:
        raise  # locked, unreadable folder...: the error boundary says which, in words
    except sqlite3.DatabaseError as exc:
        raise DatabaseUnusable(database_problem(exc, path)[0]) from None
    if app_id == 0 and not has_tables:
        return  # a new, empty file: migrations will make it ours
    if app_id != APPLICATION_ID:
        raise DatabaseUnusable(f"{path} is an SQLite database of another program, not crmcli's; it was left as it is")
    from crmcli.migrations import latest_version

    if version > latest_version():
        raise DatabaseUnusable(
            f"{path} was written by a newer crmcli (schema {version}; this crmcli knows up to "
            f"{latest_version()}); upgrade crmcli. The file was left as it is"
        )


def truncate_wal(conn: sqlite3.Connection) -> bool:
    """Copy the write-ahead log into the database file and empty it, so nothing
    erased lingers in the -wal file. False when a reader kept it from finishing."""
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0


def schema_version(conn: Connection) -> int:
    if isinstance(conn, sqlite3.Connection):
        return conn.execute("PRAGMA user_version").fetchone()[0]
    return conn.execute("SELECT version FROM crm_schema").fetchone()[0]
