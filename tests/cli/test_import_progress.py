"""The import's progress bar: on a terminal's stderr only, never in a pipe or under --quiet (where rich's progress
module is not even loaded), and updated once per chunk of rows, not per row."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from _processes import on_a_pty

from crmcli import customers, db
from crmcli.cli import imports as import_cli
from crmcli.transfer import imports
from crmcli.transfer.imports import blocks

CRM = [str(Path(sys.executable).parent / "crm")]
ROWS = 30_000  # about 1 MB: the bulk path's worker processes take it where there are 2 CPUs or more


@pytest.fixture
def sales(tmp_path, isolated_database):
    conn = db.connect(isolated_database)
    with db.transaction(conn):
        customers.add(conn, "Ann", external_id="A")
    conn.close()
    path = tmp_path / "sales.csv"
    path.write_text("customer_external_id,type,at,amount,note\n"
                    + "".join(f"A,purchase,2024-01-02,{n % 90 + 1}.50,receipt {n:08d} with a longer note\n"
                              for n in range(ROWS)), encoding="utf-8")
    return path


def stderr_on_a_terminal(args, env):
    """What crm writes to stderr when stderr is a terminal (stdout a pipe); and its exit code."""
    code, said, _ = on_a_pty(args, env, stream="stderr", command=CRM)
    return code, said


def test_a_terminal_sees_the_bar_and_then_the_summary(sales):
    code, said = stderr_on_a_terminal(["interaction", "import", str(sales)], os.environ)
    assert code == 0, said
    assert "importing interactions" in said
    assert f"{ROWS} rows read, {ROWS} added" in said


def test_quiet_hides_the_bar_as_it_hides_the_summary(sales):
    code, said = stderr_on_a_terminal(["--quiet", "interaction", "import", str(sales)], os.environ)
    assert code == 0, said
    assert said == ""


def test_a_pipe_gets_no_bar_and_rich_progress_is_never_loaded(sales):
    code = ("import runpy, sys\nsys.argv = ['crm', 'interaction', 'import', sys.argv[1]]\n"
            "try:\n    runpy.run_module('crmcli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('rich.progress' in sys.modules, 'rich.live' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(sales)], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["False", "False"], done.stderr
    assert done.stderr.count("\n") == 1 and "\x1b" not in done.stderr  # the summary line only


def test_the_bar_is_asked_for_only_on_a_terminal_and_not_when_quiet(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(import_cli, "_quiet", lambda: False)
    assert import_cli._wants_progress()
    monkeypatch.setattr(import_cli, "_quiet", lambda: True)
    assert not import_cli._wants_progress()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(import_cli, "_quiet", lambda: False)
    assert not import_cli._wants_progress()


def test_progress_is_reported_once_per_chunk_whichever_process_prepares_it(sales, isolated_database):
    conn = db.connect(isolated_database)
    seen = []
    with sales.open("rb") as stream:
        result = imports.import_csv(conn, "interactions", stream, source="sales.csv",
                                    progress=lambda rows, read: seen.append((rows, read)))
    conn.close()
    assert result.added == ROWS
    assert len(seen) <= ROWS // blocks.CHUNK_ROWS + 2 * (sales.stat().st_size // blocks.BLOCK_BYTES + 1)
    assert seen[-1] == (ROWS, sales.stat().st_size)
    assert [rows for rows, _ in seen] == sorted(rows for rows, _ in seen)
