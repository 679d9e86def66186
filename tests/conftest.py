"""Every test gets its own database and data folder: no test touches a real home directory."""

import pytest
from typer.testing import CliRunner

from crmcli import db
from crmcli.cli import app


@pytest.fixture(autouse=True)
def isolated_database(tmp_path, monkeypatch):
    path = tmp_path / "crm.db"
    monkeypatch.setenv("CRM_DB", str(path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home" / ".local" / "share"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    # Rich sizes tables from the terminal; pin it so output is the same everywhere.
    monkeypatch.setenv("COLUMNS", "200")
    return path


@pytest.fixture
def conn(isolated_database):
    connection = db.connect(isolated_database)
    yield connection
    connection.close()


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def crm(runner):
    """Run `crm ARGS...`; returns the Result (exit_code, stdout, stderr)."""

    def invoke(*args, input=None):
        return runner.invoke(app, [str(a) for a in args], input=input)

    return invoke
