"""Backup and restore with SQLite's online backup API.

A backup is a consistent copy taken in one step, even while other processes
write (WAL: they are not blocked). It is written to a temporary file beside the
target, readable by its owner only (0600), checked, and renamed into place.

A restore first checks that the file is a crmcli database (SQLite header,
application_id, a schema this crmcli knows, integrity). Then, holding the live
database alone (no other connection may read or write it meanwhile), it keeps
the current database aside as a backup and copies the file's pages into the
live database through the same API, so nothing committed in between is lost,
and the -wal/-shm files stay consistent.

Temporary copies are named `.NAME.pidPID-RANDOM.tmp` and locked (flock) while
written: a copy left by a killed process (pid gone, lock free) holds everyone's
data, so the next copy into that folder removes it, and one that a running
process is writing is never touched.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from crmcli import db, migrations, values
from crmcli.errors import Conflict, CrmError, DatabaseUnusable, InvalidInput
from crmcli.output import process_gone, refuse_database_files

try:
    import fcntl
except ImportError:  # Windows: no flock, so no way to tell a dead copy from a running one; none is removed
    fcntl = None  # type: ignore[assignment]

# A temporary copy, and the -journal, -wal and -shm files SQLite keeps beside it while it is open.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.pid(?P<pid>[0-9]+)-[a-z0-9_]+\.tmp(?P<companion>-journal|-wal|-shm)?")
# What crmcli before pid-named temporaries left: `.NAME.XXXXXXXX.tmp` (mkstemp's 8 characters).
_OLD_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
_MOST_KEPT_COPIES = 1000


def _stamp() -> str:
    return values.now().strftime("%Y%m%d-%H%M%S")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def backup(conn: sqlite3.Connection, db_path: Path, target: Path, *, force: bool = False) -> Path:
    """Copy the open database to `target` (a file, or a folder for crm-YYYYMMDD-HHMMSS.db); returns the file."""
    target = Path(target).expanduser()
    if target.is_dir():
        target = target / f"crm-{_stamp()}.db"
    refuse_database_files(target, "backup", Path(db_path))
    if target.exists() and not target.is_file():
        # Renaming the copy onto /dev/null or a pipe would replace it (as root, even a device).
        raise InvalidInput("backup", str(target), "is not a regular file or a folder; give a file name or a folder")
    if target.exists() and not force:
        raise Conflict(_exists(target))
    if not target.parent.is_dir():
        raise InvalidInput("backup", str(target), "is in a folder that does not exist")
    installed = _copy(conn, [target], replace=force)
    if installed is None:  # another process took the name while we copied
        raise Conflict(_exists(target))
    return installed


def _exists(target: Path) -> str:
    return f"backup: {str(target)!r} already exists; give a new name, or --force to replace it"


def _copy(source: sqlite3.Connection, names: list[Path], *, replace: bool = False,
          job: str = "backup") -> Path | None:
    """source -> a locked 0600 temporary file in the names' folder, checked, then given the first of
    `names` that is free (never overwriting a file; None when none was) or, with replace, the first."""
    folder = names[0].parent
    with _temporary(folder, names[0].name, job) as tmp:
        copy = sqlite3.connect(tmp, isolation_level=None)
        try:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            # A single self-contained file (no -wal beside it), easy to move or mail.
            copy.execute("PRAGMA journal_mode = DELETE")
            result = copy.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.OperationalError as exc:
            # Almost always the copy's side (its disk full); the database itself is untouched.
            raise CrmError(f"{job}: could not write the copy {str(names[0])!r} ({exc}); nothing was written, "
                           "the database is unchanged") from None
        finally:
            copy.close()
        if result != "ok":
            raise DatabaseUnusable(f"{job}: the copy failed its integrity check ({result}); nothing was written")
        try:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            if replace:
                os.replace(tmp, names[0])
                return names[0]
            return next((name for name in names if _rename_new(tmp, name)), None)
        except OSError as exc:
            raise CrmError(f"{job}: could not write the copy {str(names[0])!r} ({exc.strerror}); nothing was "
                           "written, the database is unchanged") from None


def _rename_new(source: Path, target: Path) -> bool:
    """Give `source` the name `target` only if no file has that name (False if one has): never overwrites."""
    try:
        os.link(source, target)  # fails if target exists, atomically
    except FileExistsError:
        return False
    except OSError:
        # A file system without hard links (FAT, some network disks): claim the name, then rename onto the claim.
        try:
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        os.replace(source, target)
        return True
    os.unlink(source)
    return True


@contextmanager
def _temporary(folder: Path, name: str, job: str) -> Iterator[Path]:
    """A new 0600 file `.NAME.pidPID-RANDOM.tmp` in folder, flock-ed while in use, removed afterwards
    (with SQLite's files beside it) unless it was renamed. Stale ones of killed runs go first."""
    remove_stale_temporaries(folder)
    try:
        # mkstemp creates the file with mode 0600: the copy is never readable by others, not even briefly.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.pid{os.getpid()}-", suffix=".tmp")
    except OSError as exc:
        raise CrmError(f"{job}: cannot write in {str(folder)!r}: {exc.strerror}") from None
    try:
        if fcntl is not None:
            # Held until this run ends (the kernel lets go when the process dies): a file whose lock is free
            # and whose pid is gone is a leftover. Until this line, the pid in the name (alive) protects it.
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield Path(tmp)
    finally:
        for companion in ("", "-journal", "-wal", "-shm"):
            with suppress(FileNotFoundError):
                os.unlink(tmp + companion)
        os.close(fd)


def _abandoned(path: Path) -> bool:
    """The file is ours (a regular file of this user, SQLite's or still empty) and nobody holds its lock."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            return False
        head = os.read(fd, len(db.SQLITE_HEADER))
        if head.strip(b"\x00") and head != db.SQLITE_HEADER:  # a killed copy may not have its first page yet
            return False
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: its writer is alive
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary copies in folder left by crm processes that were killed (their pid gone, their lock free),
    with SQLite's -journal/-wal/-shm files beside them. Each holds a full copy of the data."""
    if fcntl is None:
        return []
    folder = Path(folder)
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return []
    matches = {entry: match for entry in entries if (match := _TEMPORARY.fullmatch(entry))}
    gone = {entry for entry, match in matches.items() if process_gone(int(match["pid"]))}
    stale_copies = {entry for entry in gone if not matches[entry]["companion"] and _abandoned(folder / entry)}
    stale = []
    for entry in sorted(gone):
        companion = matches[entry]["companion"]
        copy = entry[: len(entry) - len(companion)] if companion else entry
        if copy in stale_copies or (companion and copy not in matches):
            stale.append(folder / entry)
    return stale


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove what stale_temporaries finds; returns what was removed."""
    removed = []
    for path in stale_temporaries(folder):
        try:
            os.unlink(path)
        except OSError:
            continue  # another run removed it first, or the folder is read-only: nothing to do
        removed.append(path)
    return removed


def unfinished_copies(folder: Path) -> list[Path]:
    """Every temporary backup copy in folder, stale or still being written, this crmcli's or an older one's
    (those only if they are SQLite files): what `crm customer forget` cannot erase."""
    found = []
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return []
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry)
        ours = bool(match and not match["companion"])
        if ours or (_OLD_TEMPORARY.fullmatch(entry) and _is_sqlite(Path(folder) / entry)):
            found.append(Path(folder) / entry)
    return found


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(db.SQLITE_HEADER)) == db.SQLITE_HEADER
    except OSError:
        return False


def inspect(path: Path, db_path: Path | None = None) -> dict:
    """What a file holds, if it is a crmcli database this crmcli can restore (into db_path); else InvalidInput."""
    path = Path(path).expanduser()
    if db_path is not None and _same_file(Path(db_path).expanduser(), path):
        raise InvalidInput("restore", str(path), "is the database itself")
    if not path.is_file():
        raise InvalidInput("restore", str(path), "is not a file")
    with open(path, "rb") as handle:
        if handle.read(len(db.SQLITE_HEADER)) != db.SQLITE_HEADER:
            raise InvalidInput("restore", str(path),
                               "is not a crmcli database (not an SQLite file); nothing was changed")
    try:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput("restore", str(path), f"cannot be opened ({exc}); nothing was changed") from None
    try:
        app_id = source.execute("PRAGMA application_id").fetchone()[0]
        version = source.execute("PRAGMA user_version").fetchone()[0]
        if app_id != db.APPLICATION_ID:
            raise InvalidInput("restore", str(path), "is an SQLite database, but not crmcli's; nothing was changed")
        if version > migrations.latest_version():
            raise InvalidInput("restore", str(path), f"was written by a newer crmcli (schema {version}); "
                               "upgrade crmcli first; nothing was changed")
        check = source.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise InvalidInput("restore", str(path), f"is damaged ({check}); nothing was changed")
        return {
            "schema_version": version,
            "customers": source.execute("SELECT count(*) FROM customers").fetchone()[0],
            "interactions": source.execute("SELECT count(*) FROM interactions").fetchone()[0],
        }
    except sqlite3.DatabaseError as exc:
        raise InvalidInput("restore", str(path), f"is damaged or not a database ({exc}); nothing was changed") from None
    finally:
        source.close()


def restore(db_path: Path, source_path: Path) -> dict:
    """Replace the database at db_path with the backup at source_path; the old one is kept aside.

    Returns {'aside': path of the old database or None, plus inspect()'s counts}.
    """
    db_path = Path(db_path).expanduser()
    source_path = Path(source_path).expanduser()
    info = inspect(source_path, db_path)
    existed = db_path.exists() and db_path.stat().st_size > 0
    aside = None
    try:
        conn = db.connect_file(db_path)
    except DatabaseUnusable:
        # The current file cannot be opened (damaged, another program's): exactly when a restore is
        # needed. Move it, with its -wal and -shm, aside as it is, and restore into a new file.
        if not db_path.exists():
            raise
        aside = _move_aside(db_path)
        conn = db.connect_file(db_path)
    try:
        _hold_alone(conn, db_path)
        if aside is None and existed:
            aside = _copy(conn, _kept_names(db_path), job="restore")
            if aside is None:
                raise Conflict(f"restore: no free name for the copy of the current database beside {db_path} "
                               f"({_MOST_KEPT_COPIES} copies from this second exist); nothing was changed")
        _copy_in(source_path, conn, db_path)
        migrations.migrate(conn)  # a backup from an older crmcli is brought up to this schema
    except sqlite3.OperationalError as exc:
        kept = f" and also kept in {aside}" if aside else ""
        raise DatabaseUnusable(f"restore: could not write the database {db_path}: {exc}; "
                               f"the old data is unchanged{kept}") from None
    finally:
        conn.close()  # lets go of the lock: waiting crm commands go on, on the restored data
    info["aside"] = aside
    return info


def _kept_names(db_path: Path) -> list[Path]:
    """crm.db.before-restore-YYYYMMDD-HHMMSS, then -2, -3...: a restore in the same second gets the next."""
    first = db_path.with_name(f"{db_path.name}.before-restore-{_stamp()}")
    return [first] + [first.with_name(f"{first.name}-{n}") for n in range(2, _MOST_KEPT_COPIES + 1)]


def _move_aside(db_path: Path) -> Path:
    """Rename the database and its -wal and -shm to the first free kept name; never over another file."""
    parts = [suffix for suffix in ("-wal", "-shm") if Path(f"{db_path}{suffix}").exists()]
    for name in _kept_names(db_path):
        if any(Path(f"{name}{suffix}").exists() for suffix in parts):
            continue
        try:
            if not _rename_new(db_path, name):
                continue
            for suffix in parts:
                if not _rename_new(Path(f"{db_path}{suffix}"), Path(f"{name}{suffix}")):
                    raise FileExistsError(f"{name}{suffix}")
        except OSError as exc:
            raise DatabaseUnusable(f"restore: could not move the damaged database {db_path} aside to {name} "
                                   f"({exc}); restore by hand: move it away, then run `crm restore` again") from None
        return name
    raise Conflict(f"restore: no free name to move {db_path} aside ({_MOST_KEPT_COPIES} copies from this second "
                   "exist); nothing was changed")


def _hold_alone(conn: sqlite3.Connection, db_path: Path) -> None:
    """Lock the live database for this connection only, until it is closed.

    A write committed by another process between the copy kept aside and the restore would be in
    neither. In EXCLUSIVE locking mode SQLite keeps the lock BEGIN IMMEDIATE takes until the connection
    closes, and (in WAL mode) takes it on the file itself, which waits, up to the busy timeout, until no
    other connection has the file open, and keeps new ones waiting meanwhile. The backup API can still
    write through this connection, since no transaction is left open on it.
    """
    conn.execute("PRAGMA locking_mode = EXCLUSIVE")
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseUnusable(
                f"restore: the database {db_path} is in use: another crm command or program (an sqlite3 shell, "
                f"Datasette...) has it open and did not close it within {db.BUSY_TIMEOUT_SECONDS:g} s. Close it "
                f"and try again; nothing was changed ({exc})") from None
        raise


def _copy_in(source_path: Path, conn: sqlite3.Connection, db_path: Path) -> None:
    """The backup's pages into the live database: the copy is atomic for every connection (an interrupted
    restore leaves the old data)."""
    source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        if source.execute("PRAGMA page_size").fetchone()[0] == page_size:
            source.backup(conn)
            return
        # The backup API cannot change the page size of a WAL database (SQLITE_READONLY), and the live
        # one stays in WAL mode for the processes waiting on it: convert a private copy first.
        with _temporary(db_path.parent, f"{db_path.name}.restoring", "restore") as tmp:
            converted = sqlite3.connect(tmp, isolation_level=None)
            try:
                source.backup(converted)
                converted.execute("PRAGMA journal_mode = DELETE")  # VACUUM changes the page size only outside WAL
                converted.execute(f"PRAGMA page_size = {int(page_size)}")
                converted.execute("VACUUM")
                converted.backup(conn)
            finally:
                converted.close()
    finally:
        source.close()
