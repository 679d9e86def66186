"""Where output goes: stdout, or a file written to a temporary file beside it and renamed into place, so
a reader (or a cron job that dies half-way) never sees half a report; never onto the database itself."""

from __future__ import annotations

import errno
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TextIO

from crmcli.errors import InvalidInput, OutputClosed, OutputFailed

# The database this process works on, named by the CLI before a command runs (protect_database):
# no file-writing option may write onto it or its companion files, however the path is spelled.
_database: Path | None = None


def protect_database(path: Path | None) -> None:
    global _database
    _database = Path(path) if path is not None else None


def refuse_database_files(target: Path, field: str, database: Path | None = None) -> None:
    """InvalidInput if `target` is the database (by default the one crm is using) or its -wal, -shm or
    -journal file: by its real path (relative, `..`, a symlink, a file not yet there such as a -wal) or
    by identity (a hard link)."""
    database = database or _database
    if database is None:
        return
    from crmcli.db import database_files

    real = os.path.realpath(target)
    for companion in database_files(database):
        same = os.path.realpath(companion) == real
        if not same and companion.exists() and target.exists():
            same = os.path.samefile(companion, target)
        if same:
            raise InvalidInput(field, str(target), f"is the database crm is using ({companion.name}); writing there "
                               "would destroy it. Give another file")


def _cannot_write(field: str, where: str, exc: OSError) -> OutputFailed:
    return OutputFailed(field, where, "it is closed" if exc.errno == errno.EBADF else str(exc.strerror or exc))


@contextmanager
def destination(output: Path | None, *, field: str = "output") -> Iterator[TextIO]:
    """stdout, or a temporary file renamed onto `output` only when everything was written.

    A write that fails (a full disk, a closed stdout, a folder that vanished) becomes a CrmError naming
    the target; a reader of stdout that went away (`| head`) becomes OutputClosed. Whatever the caller
    does inside the block (a commit) happens before the rename, so a file appears only for work done.
    """
    if output is None:
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
        except OSError as exc:
            raise _cannot_write(field, "standard output", exc) from None
        return
    given = str(output)
    target = Path(output).expanduser()
    refuse_database_files(target, field)
    if target.is_symlink():
        # Through a symlink the file it points at is written (as the shell's > does), not the link replaced.
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise InvalidInput(field, given, "is a directory; give a file name")
    if target.exists() and not target.is_file():
        # /dev/null, /dev/stdout, a named pipe: written to as it is. A temporary file renamed
        # onto it would replace the device itself (for root, /dev/null became a plain file).
        try:
            with open(target, "w", encoding="utf-8", newline="") as handle:
                yield handle
        except OSError as exc:
            raise _cannot_write(field, repr(given), exc) from None
        return
    remove_stale_temporaries(target)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.pid{os.getpid()}-", suffix=".tmp")
    except OSError as exc:
        raise _cannot_write(field, repr(given), exc) from None
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if target.exists():
            os.chmod(tmp_name, target.stat().st_mode & 0o777)
        os.replace(tmp_name, target)
    except BaseException as exc:
        with suppress(FileNotFoundError):
            os.unlink(tmp_name)
        if isinstance(exc, OSError):
            # e.g. disk full, or a path the OS cannot follow ('missing/../report.csv'): the user's to fix.
            raise _cannot_write(field, repr(given), exc) from None
        raise


def process_gone(pid: int) -> bool:
    """Has process `pid` ended? (It names the temporary files a crm process writes.)"""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # PermissionError: it exists (another user's)
    return False


def remove_stale_temporaries(target: Path) -> list[Path]:
    """Remove the temporary files `.NAME.pidPID-XXXX.tmp` that a killed run writing `target` left beside it
    (its pid gone; this user's regular files only): a killed `export` would otherwise leave a hidden copy
    of the data. A run still writing keeps its file, its pid being alive."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.pid(?P<pid>[0-9]+)-[A-Za-z0-9_]+\.tmp")
    removed: list[Path] = []
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry)
        if not match or not process_gone(int(match["pid"])):
            continue
        path = target.parent / entry
        try:
            info = path.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid():
                path.unlink()
                removed.append(path)
        except OSError:
            continue  # removed by another run meanwhile, or a read-only folder: nothing to do
    return removed


def settle(stream: TextIO) -> None:
    """Push what was written so far to its file (fsync) or pipe, so that a write error (a full disk,
    a closed reader) shows before the command commits rather than after."""
    try:
        stream.flush()
        if stream is not sys.stdout and stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            os.fsync(stream.fileno())
    except BrokenPipeError:
        raise OutputClosed() from None
    except OSError as exc:
        raise _cannot_write("output", "standard output" if stream is sys.stdout else repr(stream.name), exc) from None
