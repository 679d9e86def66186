"""The errors a user can cause or meet, each with its documented exit code.

Exit codes (README, "Exit codes"):
  0  success
  1  invalid input, not found, conflict
  2  usage error (Typer's own: unknown option, missing argument)
  3  database unusable: locked past the timeout, corrupt, not a crmcli
     database, written by a newer crmcli, read-only
"""

from __future__ import annotations


class CrmError(Exception):
    """A failure the user can understand and act on; never a bug."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(CrmError):
    """A value the user gave is wrong. The message names the field and the value."""

    def __init__(self, field: str, value: object, problem: str):
        super().__init__(f"{field}: {problem} ({value!r})")
        self.field = field
        self.value = value


class NotFound(CrmError):
    pass


class Conflict(CrmError):
    pass


class DatabaseUnusable(CrmError):
    exit_code = 3


class OutputFailed(CrmError):
    """Output could not be written (a full disk, a closed stdout, a folder that vanished)."""

    def __init__(self, field: str, where: str, reason: str, *, nothing_saved: bool = False):
        super().__init__(f"{field}: cannot write to {where}: {reason}" + ("; nothing was saved" if nothing_saved else ""))
        self.field, self.where, self.reason = field, where, reason
        self.to_stdout = where == "standard output"

    def unsaved(self) -> OutputFailed:
        """The same failure, said by a write command that therefore saved nothing."""
        return OutputFailed(self.field, self.where, self.reason, nothing_saved=True)


class OutputClosed(CrmError):
    """The reader of stdout went away (`crm customer list | head -1`). A command that only reads
    has done its job and exits 0, as other command-line tools do; a command that writes saves nothing."""

    exit_code = 0

    def __init__(self) -> None:
        super().__init__("output: the reader of standard output went away (a closed pipe)")


def database_problem(exc: BaseException, path: object) -> tuple[str, bool]:
    """An SQLite error in words a shop owner can act on, naming the database file.

    Returns (message, is_damage). SQLite's own text is kept at the end in brackets,
    for whoever has to dig further. `exc` is an sqlite3.Error; its error name
    (SQLITE_BUSY, SQLITE_FULL...) says what happened better than its text.
    """
    import os

    name = getattr(exc, "sqlite_errorname", "") or ""
    said = str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in said:
        from crmcli import db  # the timeout a test may have shortened

        return (f"the database {path} is busy: another crm command or program is using it and did not let go "
                f"within {db.BUSY_TIMEOUT_SECONDS:g} s. Try again when it has finished; nothing was changed "
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


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a service manager, a cron timeout), handled as Ctrl-C is: the open transaction is
    rolled back and temporary files removed on the way out. Exit 143, the shell's 128 + SIGTERM."""
