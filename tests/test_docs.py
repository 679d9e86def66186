"""Every command has help text and is in README; start-up stays light."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import command_tree

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


COMMANDS = command_tree()


def test_there_are_commands():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"customer add", "interaction add", "feedback resolve", "report churn", "demo", "info"} <= names


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_has_help_and_is_in_readme(path, command):
    assert (command.help or "").strip(), f"crm {' '.join(path)} has no help text"
    assert f"crm {' '.join(path)}" in README, f"crm {' '.join(path)} is not in README"
    for param in command.params:
        if param.name not in ("ctx",) and getattr(param, "help", None) is not None:
            assert param.help.strip(), f"{param.name} of crm {' '.join(path)} has empty help"


def _imported_modules(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    code = ("import sys, runpy; sys.argv = ['crm', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('crmcli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    return set(result.stderr.split())


@pytest.mark.parametrize("args", [["--help"], ["customer", "add", "Start-up Test", "--email", "s@example.com"]])
def test_start_up_does_not_load_numpy_or_scipy(args, isolated_database, backend):
    modules = _imported_modules(*args, env_extra={"CRM_DB": str(isolated_database)})
    assert "typer" in modules  # the probe really ran the CLI
    heavy = ["numpy", "scipy", "pandas", "sqlite_utils"]
    if backend == "sqlite" or args == ["--help"]:
        heavy.append("psycopg")  # the driver only for a command that talks to a server
    assert not {m for m in modules if m.split(".")[0] in heavy}


def _tests_named_in_readme():
    """(file, test) for every `tests/x.py::name` in README; a bare `::name` belongs to the file named last."""
    import re

    current = None
    for match in re.finditer(r"(tests/[\w/]+\.py)|::(\w+)", README):
        if match.group(1):
            current = match.group(1)
            yield current, None
        else:
            yield current, match.group(2)


def test_every_test_readme_points_at_exists():
    """README's guarantees each name the test that shows them: a renamed or deleted test would
    leave a claim unproved."""
    root = Path(__file__).resolve().parent.parent
    named = list(_tests_named_in_readme())
    assert len([n for n in named if n[1]]) >= 15
    for file, test in named:
        assert file is not None and (root / file).is_file(), f"README names {file}, which does not exist"
        if test:
            assert f"def {test}(" in (root / file).read_text(encoding="utf-8"), f"README names {file}::{test}"
