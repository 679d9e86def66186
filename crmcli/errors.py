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

    def __init__(self, message: str, *, field: str | None = None):
        """With `field`, the message is 'field: message', and the error carries both apart (an import
        names the field as its file's column without reading it back out of the text)."""
        full = f"{field}: {message}" if field else message
        super().__init__(full)
        self.message = full
        self.field: str | None = field
        self.problem = message


class InvalidInput(CrmError):
    """A value the user gave is wrong. The message names the field and the value."""

    def __init__(self, field: str, value: object, problem: str):
        super().__init__(f"{problem} ({value!r})", field=field)
        self.field = field
        self.value = value
        self.problem = problem


class NotFound(CrmError):
    pass


class Conflict(CrmError):
    pass


class DatabaseUnusable(CrmError):
    exit_code = 3


class DatabaseBusy(DatabaseUnusable):
    """Another command held the write lock past the wait (a server's; SQLite's is sqlite3's own error)."""


class OutputFailed(CrmError):
    """Output could not be written (a full disk, a closed stdout, a folder that vanished)."""

    def __init__(self, field: str, where: str, reason: str, *, nothing_saved: bool = False):
        saved = "; nothing was saved" if nothing_saved else ""
        super().__init__(f"cannot write to {where}: {reason}{saved}", field=field)
        self.option, self.where, self.reason = field, where, reason
        self.to_stdout = where == "standard output"

    def unsaved(self) -> OutputFailed:
        """The same failure, said by a write command that therefore saved nothing."""
        return OutputFailed(self.option, self.where, self.reason, nothing_saved=True)


class OutputClosed(CrmError):
    """The reader of stdout went away (`crm customer list | head -1`). A command that only reads
    has done its job and exits 0, as other command-line tools do; a command that writes saves nothing."""

    exit_code = 0

    def __init__(self) -> None:
        super().__init__("output: the reader of standard output went away (a closed pipe)")


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a service manager, a cron timeout), handled as Ctrl-C is: the open transaction is
    rolled back and temporary files removed on the way out. Exit 143, the shell's 128 + SIGTERM."""
