"""What every sub-app shares: the error boundary, the database handle and the output options."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from crmcli import db
from crmcli.db import Connection
from crmcli.errors import (
    CrmError,
    DatabaseUnusable,
    OutputClosed,
    OutputFailed,
    Terminated,
)


def fail(message: str, exit_code: int) -> None:
    typer.echo(f"crm: error: {_shown(message)}", err=True)
    raise typer.Exit(exit_code)


def fail_quietly(message: str) -> None:
    """An error message on stderr, for errors outside a command (no exit of its own)."""
    with suppress(OSError):
        typer.echo(f"crm: error: {_shown(message)}", err=True)


def note(message: str) -> None:
    """A remark for the person at the keyboard: stderr, so pipelines never see it; none under
    -q/--quiet, so a healthy cron job prints nothing (errors go through fail(), never silenced)."""
    if is_quiet():
        return
    with suppress(OSError):  # stderr is full or closed: there is nowhere left to say it
        typer.echo(_shown(message), err=True)


def is_quiet() -> bool:
    """-q/--quiet was given: no notes, no progress bars or spinners; errors still print."""
    return _settings["quiet"]


# Set by the root callback for each command (-q/--quiet); read by note().
_settings = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    _settings["quiet"] = quiet


def say(text: object) -> None:
    """A line of data on stdout (the new id from `add`). Inside write_transaction, a stdout that
    cannot take it (a full disk, a closed descriptor or pipe) keeps the change from being saved."""
    from crmcli.output import destination

    with destination(None) as stream:
        stream.write(f"{text}\n")


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """The command's one write transaction, committed only after what it printed on stdout got out.

    A command that fails, its output included, changes nothing: so the output is written and flushed
    first, inside the transaction, and COMMIT comes last.
    """
    from crmcli.output import settle

    try:
        with db.transaction(conn):
            yield conn
            settle(sys.stdout)
    except OutputClosed:
        raise CrmError("output: the reader of standard output went away (a closed pipe), so nothing was "
                       "saved") from None
    except OutputFailed as exc:
        raise exc.unsaved() from None


def silence_stdout() -> None:
    """After stdout failed, point it at /dev/null: Python flushes stdout once more at exit, and that
    would fail again with a second, raw error message."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _shown(message: str) -> str:
    """Messages quote stored text (a customer's name in a conflict): its control characters and
    escape sequences are shown as \\xNN, never sent to the terminal. Line breaks stay."""
    from crmcli.output import terminal_text

    return "\n".join(terminal_text(line) for line in str(message).split("\n"))


class CrmGroup(TyperGroup):
    """The one error boundary: a CrmError becomes a message on stderr and its exit code; a usage error
    becomes `crm: error: ...` and a hint, exit 2 (cli/commandline.py)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        from typer._click import exceptions as click_errors  # Typer's own click, as Typer raises it

        from crmcli.cli import commandline

        commandline.prepare(self)
        given = commandline.arrange(self, list(sys.argv[1:] if args is None else args))
        try:
            code = super().main(given, prog_name or "crm", complete_var,
                                standalone_mode=False, windows_expand_args=windows_expand_args, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            # Bare `crm` or `crm report`: the help, on stdout, and success.
            # The error holds the help as get_help() returned it; Typer's rich help has printed itself while
            # the error was made and returned nothing, so calling get_help() again would print it twice.
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            code = 0
        except click_errors.UsageError as exc:
            code = commandline.usage_error(exc, self, given)
        except click_errors.ClickException as exc:
            fail_quietly(exc.format_message())
            code = exc.exit_code
        except typer.Abort:
            fail_quietly("aborted; nothing was changed")
            code = 1
        finally:
            # The root callback set these for this command; the next one (in the same process, as in
            # the tests or the Python API) starts from the defaults.
            from crmcli.output import set_crlf

            set_quiet(False)
            set_crlf(False)
        code = code if isinstance(code, int) else 0
        if not standalone_mode:
            return code
        sys.exit(code)

    # Typer's contexts are annotated typer.Context (as in its docs); the base class names the click
    # Context that Typer vendors in its private typer._click, which crmcli does not import.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except OutputClosed:
            silence_stdout()  # `| head`: the reader has what it wanted
            raise typer.Exit(0) from None
        except CrmError as exc:
            if isinstance(exc, OutputFailed) and exc.to_stdout:
                silence_stdout()
            fail(exc.message, exc.exit_code)
        except Terminated:
            fail("terminated; a command's changes are saved whole or not at all", 143)
        except KeyboardInterrupt:
            # Ctrl-C: the open transaction was rolled back on the way here. 130 is the shell's 128 + SIGINT.
            fail("interrupted; a command's changes are saved whole or not at all", 130)
        except sqlite3.IntegrityError as exc:
            if getattr(exc, "sqlite_errorname", "") != "SQLITE_CONSTRAINT_TRIGGER":
                raise  # a bug in crmcli, not the user's doing: let it show
            # RAISE(ABORT, ...) in a trigger another program added to the file.
            fail(f"the database {state(ctx).path} refused the change: a trigger in it says {str(exc)!r}. "
                 "Nothing was changed", 1)
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # a bug in crmcli, not the user's doing: let it show
        except sqlite3.DatabaseError as exc:
            conn = state(ctx).conn
            if str(exc) == "integer overflow":
                # A total of amounts beyond 64 bits: the core names the rows and the repair. When it came
                # from the upgrade (customer_summary's totals), no connection is open: read the file as it is.
                from crmcli import interactions

                with closing(sqlite3.connect(f"file:{state(ctx).path}?mode=ro", uri=True)) as raw:
                    problem = interactions.overflow_problem(conn or raw, state(ctx).path)
                fail(problem, DatabaseUnusable.exit_code)
            # OperationalError: locked past the busy timeout, read-only file or folder, disk full,
            # I/O error; DatabaseError: a damaged file. Each in words, naming the file.
            message, damaged = db.database_problem(exc, state(ctx).path)
            fail(("database unusable (damaged or not a database): " if damaged else "database unusable: ") + message,
                 DatabaseUnusable.exit_code)


class State:
    """Per-invocation state on ctx.obj: where the database is, and its connection once opened."""

    def __init__(self, db_given: str | None):
        self.db_given = db_given
        self.conn: Connection | None = None

    @property
    def given(self) -> str | None:
        return self.db_given if self.db_given else os.environ.get("CRM_DB") or None

    @property
    def server(self) -> str | None:
        """The PostgreSQL server's address, when --db or $CRM_DB is one."""
        given = self.given
        return given if given and db.is_server_address(given) else None

    @property
    def path(self) -> Path:
        """The database file. A command that works on the file itself (backup, restore) asks for it, so
        on a server it is refused, pointing at the server's own tool."""
        given = self.given
        if given:
            db.refuse_server_address(given, self.named_by)
            if db.is_server_address(given):
                from crmcli import postgres

                raise DatabaseUnusable(f"{self.named_by} is the PostgreSQL server {postgres.shown(given)}: this "
                                       "command works on a database file. On a server, use pg_dump and pg_restore")
        return Path(given).expanduser() if given else db.default_path()

    @property
    def where(self) -> str:
        """The database, as messages name it: the file's path, or the server's address without a password."""
        if self.server:
            from crmcli import postgres

            return postgres.shown(self.server)
        return str(self.path)

    @property
    def named_by(self) -> str:
        """Where the path came from, for a message about it."""
        if self.db_given:
            return "--db"
        return "$CRM_DB" if os.environ.get("CRM_DB") else "the default place"


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State(None)
    return root.obj


def connection(ctx: typer.Context, *, create: bool = True) -> Connection:
    """Open the database on first use in this command; closed when the command ends.

    create=False for a command that only reads: a missing database is then an error naming the path
    (exit 3), and no file or folder is made, so a mistyped --db or CRM_DB cannot pass unnoticed."""
    current = state(ctx)
    if current.conn is None:
        current.conn = db.connect(current.server or current.path, create=create, named_by=current.named_by)
        ctx.find_root().call_on_close(current.conn.close)
    return current.conn


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    tsv = "tsv"
    json = "json"
    jsonl = "jsonl"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="table, csv, tsv, json or jsonl. Default: table on a terminal, csv "
                 "otherwise (or from the --output file's extension). May come before the subcommand."),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write to FILE instead of stdout, atomically (temporary file, then rename).",
                 dir_okay=False),
]
ListLimitOption = Annotated[
    int | None,
    typer.Option("--limit", "-n", min=0, help="At most N rows; 0 means no limit. Default: 100 in a table, "
                 "everything in csv/json/jsonl."),
]

TABLE_DEFAULT_LIMIT = 100


def list_limit(limit: int | None, fmt: OutputFormat | None, output: Path | None) -> int | None:
    """Machine output is complete unless --limit says otherwise; a terminal table shows the first 100."""
    from crmcli.output import choose_format

    if limit is not None:
        # 0, or more rows than SQLite can count (it would not fit in the query), means no limit.
        return limit if 0 < limit < 2**63 else None
    chosen = choose_format(fmt.value if fmt else None, output)
    return TABLE_DEFAULT_LIMIT if chosen == "table" else None


def render(rows, cols, fmt: OutputFormat | None, output: Path | None, *, title: str | None = None,
           limit: int | None = None, view: Any = None, see_also: str | None = None,
           empty: str | None = None) -> None:
    """Rows in the chosen format. view: the command's --columns/--sort/--wide (cli.listing.View), applied
    here; limit: the rows the command asked for (a note says when a table shows only the first ones).
    see_also: where a narrow table's left-out columns can be read; empty: what to do when there are no rows."""
    from crmcli import output as out

    if view is not None:
        rows = view.arrange(rows, cols, limit)  # any column sorts, shown or not
        cols = view.choose(cols)
    out.render(rows, cols, fmt=fmt.value if fmt else None, output=output, title=title, **(
        {"wide": bool(view and (view.wide or view.columns)), "see_also": see_also, "empty": empty}))
    if limit and isinstance(rows, list) and len(rows) >= limit and out.choose_format(
            fmt.value if fmt else None, output) == "table":
        note(f"(first {limit} rows shown; --limit 0 shows all)")


def is_interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def confirm(command: str, question: str, *, without_asking: str, declined: str) -> None:
    """Ask on a terminal before a destructive step; elsewhere refuse (the caller skips this with --yes).

    A cron job or pipeline cannot answer, so it gets an error naming --yes rather
    than a prompt that hangs or a default that destroys data.
    """
    if not is_interactive():
        raise CrmError(f"{command}: not on a terminal, so not asking; add --yes to {without_asking}")
    if not typer.confirm(_shown(question)):
        note(declined)
        raise typer.Exit(1)
