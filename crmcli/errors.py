"""The errors a user can cause or meet, each with its documented exit code.

Exit codes (README, "Exit codes"):
  0  success
  1  invalid input, not found, conflict
  2  usage error (Typer's own: unknown option, missing argument)
  3  database unusable: locked past the timeout, corrupt, not a crmcli
     database, written by a newer crmcli, read-only
"""


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
