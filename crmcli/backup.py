"""Backup and restore with SQLite's online backup API.

A backup is a consistent copy taken in one step, even while other processes
write (WAL: they are not blocked). It is written to a temporary file beside the
target, readable by its owner only (0600), checked, and renamed into place.

A restore first checks that the file is a crmcli database (SQLite header,
application_id, a schema this crmcli knows, integrity), keeps the current
database aside as a backup, then copies the file's pages into the live
database through the same API, so processes that have it open see the restored
data and the -wal/-shm files stay consistent.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

from crmcli import db, values
from crmcli.errors import Conflict, CrmError, DatabaseUnusable, InvalidInput


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
    if _same_file(target, Path(db_path)):
        raise InvalidInput("backup", str(target), "is the database itself; give another file")
    if target.exists() and not target.is_file():
        # Renaming the copy onto /dev/null or a pipe would replace it (as root, even a device).
        raise InvalidInput("backup", str(target), "is not a regular file or a folder; give a file name or a folder")
    if target.exists() and not force:
        raise Conflict(f"backup: {str(target)!r} already exists; give a new name, or --force to replace it")
    if not target.parent.is_dir():
        raise InvalidInput("backup", str(target), "is in a folder that does not exist")
    _copy(conn, target)
    return target


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """source -> a 0600 temporary file beside target, checked, then renamed onto target."""
    try:
        # mkstemp creates the file with mode 0600: the copy is never readable by others, not even briefly.
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise CrmError(f"backup: cannot write in {str(target.parent)!r}: {exc.strerror}") from None
    os.close(fd)
    try:
        copy = sqlite3.connect(tmp_name, isolation_level=None)
        try:
            source.backup(copy)  # all pages in one step: one consistent snapshot
            # A single self-contained file (no -wal beside it), easy to move or mail.
            copy.execute("PRAGMA journal_mode = DELETE")
            result = copy.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.OperationalError as exc:
            # Almost always the copy's side (its disk full); the database itself is untouched.
            raise CrmError(f"backup: could not write the copy {str(target)!r} ({exc}); nothing was written, "
                           "the database is unchanged") from None
        finally:
            copy.close()
        if result != "ok":
            raise DatabaseUnusable(f"backup: the copy failed its integrity check ({result}); nothing was written")
        with open(tmp_name, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, target)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise


def inspect(path: Path, db_path: Path | None = None) -> dict:
    """What a file holds, if it is a crmcli database this crmcli can restore (into db_path); else InvalidInput."""
    path = Path(path).expanduser()
    if db_path is not None and _same_file(Path(db_path).expanduser(), path):
        raise InvalidInput("restore", str(path), "is the database itself")
    if not path.is_file():
        raise InvalidInput("restore", str(path), "is not a file")
    with open(path, "rb") as handle:
        if handle.read(len(db.SQLITE_HEADER)) != db.SQLITE_HEADER:
            raise InvalidInput("restore", str(path), "is not a crmcli database (not an SQLite file); nothing was changed")
    try:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput("restore", str(path), f"cannot be opened ({exc}); nothing was changed") from None
    try:
        app_id = source.execute("PRAGMA application_id").fetchone()[0]
        version = source.execute("PRAGMA user_version").fetchone()[0]
        if app_id != db.APPLICATION_ID:
            raise InvalidInput("restore", str(path), "is an SQLite database, but not crmcli's; nothing was changed")
        if version > db.latest_version():
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
    aside = db_path.with_name(f"{db_path.name}.before-restore-{_stamp()}")
    existed = db_path.exists() and db_path.stat().st_size > 0
    try:
        conn = db.connect(db_path)
    except DatabaseUnusable:
        # The current file cannot be opened (damaged, another program's): exactly when a restore is
        # needed. Move it, with its -wal and -shm, aside as it is, and restore into a new file.
        if not db_path.exists():
            raise
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{db_path}{suffix}")
            if part.exists():
                os.replace(part, Path(f"{aside}{suffix}"))
        conn = db.connect(db_path)
    else:
        if existed:
            _copy(conn, aside)
    try:
        source = sqlite3.connect(f"{source_path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            # Into the live database: the destination is locked while pages are copied, and the copy
            # is atomic for every connection (an interrupted restore leaves the old data).
            source.backup(conn)
        finally:
            source.close()
        db.migrate(conn)  # a backup from an older crmcli is brought up to this schema
    except sqlite3.OperationalError as exc:
        raise DatabaseUnusable(f"restore: could not write the database {db_path}: {exc}; "
                               f"the old data is unchanged and also kept in {aside}") from None
    finally:
        conn.close()
    info["aside"] = aside if aside.exists() else None
    return info
