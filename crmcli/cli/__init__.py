"""The `crm` command: one Typer sub-app per noun, wired to the core through the one error boundary."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from crmcli import __version__
from crmcli.cli import customer, data, feedback, imports, interaction, misc, report
from crmcli.cli import followup, target
from crmcli.cli.common import CrmGroup, State

app = typer.Typer(
    cls=CrmGroup,
    name="crm",
    help="Know your customers: who they are, every contact, what they praised or complained about, "
    "who your best customers are and who is drifting away. One SQLite file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crm {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        Optional[Path],
        typer.Option("--db", help="Database file. Default: $CRM_DB, else crm.db in your user data folder.",
                     dir_okay=False, show_default=False),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    ctx.obj = State(db)


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
    try:
        app()
    except BrokenPipeError:
        # The reader went away (`crm customer list | head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
