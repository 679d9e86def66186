"""tests/README.md stays true: every test it names exists, and every line it says to break for a
mutation check is still in the file it names (else the recipe would silently stop applying)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS_README = (ROOT / "tests" / "README.md").read_text(encoding="utf-8")


def named_tests(text: str) -> list[tuple[str, str | None]]:
    """(file, test or None) for each `tests/x.py` and `tests/x.py::name` in text; a bare `::name`
    belongs to the file named before it in the same table cell (or line)."""
    found = []
    for line in text.splitlines():
        for cell in line.split("|"):
            current = None
            for match in re.finditer(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`", cell):
                file, test = match.groups()
                if file:
                    current = file
                if current and (file or test):
                    found.append((current, test))
    return found


def mutation_rows(text: str) -> list[tuple[str, str]]:
    """(file, line to break) of each row of the mutation table."""
    table = text.split("| file | line to break |")[1]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0].strip("`"), cells[1].split("`")[1]))
    return rows


def test_every_test_named_exists():
    named = named_tests(TESTS_README)
    assert len(named) >= 20
    for file, test in named:
        path = ROOT / file
        assert path.is_file(), f"tests/README.md names {file}, which does not exist"
        if test:
            assert f"def {test}(" in path.read_text(encoding="utf-8"), f"tests/README.md names {file}::{test}"


def test_every_line_to_break_is_still_there():
    rows = mutation_rows(TESTS_README)
    assert len(rows) >= 10
    for file, fragment in rows:
        source = (ROOT / file).read_text(encoding="utf-8")
        assert fragment in source, f"tests/README.md says to break {fragment!r} in {file}, which no longer has it"


def test_the_parsers_read_what_is_there():
    assert ("tests/test_clv.py", None) not in named_tests(TESTS_README)
    assert named_tests("| `tests/a.py::one`, `::two` |") == [("tests/a.py", "one"), ("tests/a.py", "two")]
    assert ("crmcli/db.py", 'conn.execute("ROLLBACK")') in mutation_rows(TESTS_README)
