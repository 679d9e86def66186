"""Every test gets its own database and data folder: no test touches a real home directory."""

import pytest
from typer.testing import CliRunner

from crmcli import db
from crmcli.cli import app


def _snapshot(folder):
    return sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir()) if folder.is_dir() else None


@pytest.fixture(autouse=True, scope="session")
def real_data_folder_untouched():
    """Fails the run if any test wrote to the real per-user data folder (a leaked CRM_DB or HOME)."""
    import platformdirs

    real = platformdirs.user_data_path("crmcli", appauthor=False)
    before = _snapshot(real)
    yield
    assert _snapshot(real) == before, f"a test wrote to the real data folder {real}"


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
