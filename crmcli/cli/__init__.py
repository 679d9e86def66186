"""The `crm` command: one Typer sub-app per noun, wired to the core through the one error boundary."""

from __future__ import annotations

import errno
import io
import os
import signal
import sys
from contextlib import suppress
from typing import Annotated

import typer

from crmcli import __version__
from crmcli.cli import (
    customer,
    data,
    feedback,
    followup,
    imports,
    interaction,
    misc,
    report,
    target,
)
from crmcli.cli.common import CrmGroup, State, set_quiet, silence_stdout
from crmcli.errors import Terminated

app = typer.Typer(
    cls=CrmGroup,
    name="crm",
    help="Know your customers: who they are, every contact, what they praised or complained about, "
    "who your best customers are and who is drifting away. One SQLite file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # token_normalize_func: choices, option and command names without regard to case (`--type Purchase`,
    # `--format CSV`), for every command at once (child contexts inherit it).
    context_settings={"help_option_names": ["-h", "--help"], "token_normalize_func": str.lower},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database file, or a PostgreSQL server's address (postgresql://user@host/dbname). "
                     "Default: $CRM_DB, else crm.db in your user data folder. Before or after the subcommand.",
                     show_default=False, metavar="FILE|URL"),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No notes on stderr, only errors: a healthy cron job prints "
                           "nothing. Before or after the subcommand.")
    ] = False,
    crlf: Annotated[
        bool, typer.Option("--crlf", help="End CSV and TSV lines with CRLF (default LF). Before or after the "
                           "subcommand.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    from crmcli import output

    ctx.obj = State(db)
    set_quiet(quiet)
    output.set_crlf(crlf)
    # No --output, --rejects, export or backup may write onto the database or its -wal/-shm files.
    output.protect_database(None if ctx.obj.server else ctx.obj.path)


app.add_typer(customer.app, name="customer")
app.add_typer(interaction.app, name="interaction")
app.add_typer(feedback.app, name="feedback")
app.add_typer(report.app, name="report")
app.add_typer(imports.app, name="import")
app.add_typer(target.app, name="target")
app.add_typer(followup.app, name="followup")

misc.register(app)
data.register(app)
followup.register(app)


def main() -> None:
    _guard_standard_streams()
    signal.signal(signal.SIGTERM, _terminate)
    bad = _not_utf8_argument(sys.argv[1:])
    if bad:
        _say_and_exit(f"crm: error: {bad}", 1)
    try:
        app()
    except BrokenPipeError:
        # The reader went away (`crm --help | head -1`): not an error worth a traceback.
        _say_and_exit("", 0)
    except OSError as exc:
        # stdout full or closed while printing help or the version, outside any command.
        _say_and_exit(f"crm: error: cannot write to standard output: {exc.strerror or exc}", 1)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


class _ClosedStream(io.TextIOBase):
    """What stdout is when crm was started with it closed (`crm ... >&-`): writing to it fails as a
    closed descriptor does, so a command reports that it could not print instead of silently printing nothing."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "it is closed")

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return 1


def _guard_standard_streams() -> None:
    """Give a closed stdin, stdout or stderr a /dev/null descriptor, so no file crm opens (the
    database, a report) lands on descriptor 0, 1 or 2 where a stray print would write into it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_RDWR)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
    if sys.stdout is None:
        sys.stdout = _ClosedStream()


def _not_utf8_argument(args: list[str]) -> str | None:
    """Arguments that are not valid UTF-8 reach Python as lone surrogates; stored, they would break
    every later read. Say which one, the way the shell would show its bytes."""
    for position, arg in enumerate(args):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            before = args[position - 1] if position else ""
            field = before.split("=")[0] if before.startswith("-") else f"argument {position + 1}"
            if arg.startswith("--") and "=" in arg:
                field = arg.split("=")[0]
            return f"{field}: is not valid UTF-8 text ({shown!r}); crm stores text as UTF-8. Nothing was changed"
    return None


def _say_and_exit(message: str, code: int) -> None:
    if message:
        with suppress(OSError, AttributeError):
            print(message, file=sys.stderr)
    silence_stdout()  # Python flushes stdout once more at exit: make sure that cannot fail again
    sys.exit(code)
