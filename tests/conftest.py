"""Every test gets its own database and data folder: no test touches a real home directory."""

import os

import pytest
from helpers import drop_pg_database, new_pg_database, pg_admin, pg_url
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


# A test that uses the database (through these fixtures, or by naming isolated_database) runs on both engines.
_ON_THE_DATABASE = {"crm", "conn"}


def _uses_the_database(metafunc) -> bool:
    import inspect

    named = inspect.signature(metafunc.function).parameters
    return bool(_ON_THE_DATABASE & set(metafunc.fixturenames)) or "isolated_database" in named or "backend" in named


def pytest_generate_tests(metafunc):
    """A test that uses the database runs once on an SQLite file and once on a PostgreSQL server, unless it
    is marked sqlite_only (with the reason: what of SQLite's own it is about); one marked postgresql_only,
    on the server alone."""
    marked = metafunc.definition.get_closest_marker
    if marked("postgresql_only"):
        metafunc.parametrize("backend", ["postgresql"], indirect=True)
    elif marked("sqlite_only"):
        if not marked("sqlite_only").args:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: sqlite_only needs its reason, "
                                    "e.g. @pytest.mark.sqlite_only('the file\'s own bytes')")
    elif marked("both_backends") or _uses_the_database(metafunc):
        metafunc.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def backend(request):
    """'sqlite' or 'postgresql': where this test's database is. CRM_TEST_ALL_ON_POSTGRES=1 puts every test
    not marked sqlite_only on the server (to see what the rest of the suite makes of it)."""
    if hasattr(request, "param"):
        return request.param
    on_server = os.environ.get("CRM_TEST_ALL_ON_POSTGRES") and "sqlite_only" not in request.keywords
    return "postgresql" if on_server else "sqlite"


@pytest.fixture(autouse=True)
def isolated_database(tmp_path, monkeypatch, request, backend):
    """This test's database: a file in its own folder, or a new database on the test server. $CRM_DB names it."""
    path = tmp_path / "crm.db"
    if backend == "postgresql":
        base = request.getfixturevalue("pg_base")
        path = new_pg_database(base, request.getfixturevalue("pg_template"))
        request.addfinalizer(lambda: drop_pg_database(base, path))  # not thousands of them kept to the end
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


@pytest.fixture(scope="session")
def pg_base():
    """The tests' server: CRM_TEST_POSTGRES, else a throwaway cluster started here (tests/pg_cluster.py)."""
    from pg_cluster import server_programs, throwaway_cluster

    if os.environ.get("CRM_TEST_POSTGRES"):
        yield os.environ["CRM_TEST_POSTGRES"]
        return
    if server_programs() is None:
        if os.environ.get("CI"):
            pytest.fail("CI runs the PostgreSQL half of the suite, but there is no server: CRM_TEST_POSTGRES is "
                        "unset and PostgreSQL's programs are not installed (.ci/run installs and starts them)")
        pytest.skip("no PostgreSQL server for the tests: install PostgreSQL (initdb, pg_ctl) or set "
                    "CRM_TEST_POSTGRES=postgresql://user@host/postgres")
    with throwaway_cluster() as base:
        yield base


@pytest.fixture(scope="session")
def pg_template(pg_base):
    """A database crm has made its own, copied for each test; it and the tests' databases go at the end."""
    from crmcli import postgres

    template = f"crm_test_{os.getpid()}_template"
    with pg_admin(pg_base) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {template}")
        admin.execute(f"CREATE DATABASE {template}")
    postgres.connect(pg_url(pg_base, template), "tests").close()
    yield template
    with pg_admin(pg_base) as admin:
        made = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                             (f"crm_test_{os.getpid()}_%",)).fetchall()
        for (name,) in made:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
