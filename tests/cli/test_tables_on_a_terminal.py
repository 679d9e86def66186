"""The tables as a person sees them: crm run under a real pseudo-terminal at 80 and 120 columns.

For each listing and report, on the demo shop and on a shop of awkward data (long and wide names, a
note that is one 90-character word, emoji, empty fields), the table must
  - keep every line within the terminal's width;
  - show every value of every column it shows whole: each word of each value, as the same command
    prints it off a terminal (where the table takes the width it needs), is on the screen;
  - leave a column out only by naming it in its note;
  - keep to the line budget: a row at most 2 lines, 3 with its sentence under it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _processes import on_a_pty
from rich.cells import cell_len

CRM = [sys.executable, "-m", "crmcli"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

COMMANDS = [
    ("report", "best"), ("report", "churn"), ("customer", "list"), ("customer", "show", "1"), ("agenda",),
    ("feedback", "list"), ("interaction", "list"), ("report", "staff"), ("report", "summary"),
    ("report", "segments"), ("report", "model"), ("import", "list"), ("target", "list"), ("followup", "list"),
    ("customer", "duplicates"),
]


def on_a_terminal(args: tuple[str, ...], width: int, env: dict[str, str]) -> str:
    """crm's stdout when it is a terminal `width` columns wide (stderr kept apart)."""
    code, screen, stderr = on_a_pty(list(args), env, width=width, command=CRM)
    assert code == 0, stderr
    return ANSI.sub("", screen)


def off_a_terminal(args: tuple[str, ...], env: dict[str, str]) -> str:
    """The same table written to a pipe: it takes the width it needs, one line a row, nothing left out."""
    done = subprocess.run([*CRM, *args, "--format", "table"], capture_output=True, text=True, env=env, timeout=120,
                          check=True)
    return done.stdout


def tables_of(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Header titles and cells of each one-line-a-row table in `text` (agenda prints several), cut at
    the column spans of its rule line."""
    lines = text.splitlines()
    rules = [n for n, line in enumerate(lines) if line.startswith("─")]
    found = []
    for k, rule_at in enumerate(rules):
        spans = [(m.start(), m.end()) for m in re.finditer("─+", lines[rule_at])]
        titles = [_cut(lines[rule_at - 1], a, b) for a, b in spans]
        end = rules[k + 1] - 2 if k + 1 < len(rules) else len(lines)  # the next table's title and header
        rows = []
        for line in lines[rule_at + 1:end]:
            if not line.strip() or line.startswith("("):
                break
            rows.append([_cut(line, a, b if n < len(spans) - 1 else 10**6) for n, (a, b) in enumerate(spans)])
        found.append((titles, rows))
    return found


def _cut(line: str, start: int, end: int) -> str:
    """The text between terminal cells start and end: a wide character such as 山 takes two cells, an
    emoji sequence joined by U+200D two in all (measured on prefixes, as the table measures whole text)."""
    kept, taking = [], False
    for n, ch in enumerate(line):
        at, after = cell_len(line[:n]), cell_len(line[:n + 1])
        # A character that adds no width (a joiner, the emoji it joins, a combining mark) goes with the one before.
        taking = start <= at < end or (taking and after == at)
        if taking:
            kept.append(ch)
    return "".join(kept).strip()


@pytest.fixture(scope="module")
def shops(tmp_path_factory) -> dict[str, dict[str, str]]:
    """Two shops: crm's demo, and one of awkward data typed in by hand."""
    folder = tmp_path_factory.mktemp("shops")
    base = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    base["HOME"] = str(folder)
    demo = {**base, "CRM_DB": str(folder / "demo.db")}
    subprocess.run([*CRM, "demo"], env=demo, check=True, capture_output=True, timeout=300)
    awkward = {**base, "CRM_DB": str(folder / "awkward.db")}
    people = [
        ("Maximiliana Alexandrina Wolfeschlegelsteinhausenbergerdorff", "maximiliana.wolfeschlegelsteinhausen"
         "bergerdorff@example-company-with-a-long-name.co.uk", "+49 30 1234 5678 90"),
        ("山田太郎", "taro@example.jp", "+81 3-1234-5678"),
        ("Nguyễn Thị Hương 👩‍💻", "", ""),
        ("Bo", "b@x.io", ""),
    ]
    for name, email, phone in people:
        args = ["customer", "add", name] + (["--email", email] if email else []) + (["--phone", phone] if phone else [])
        subprocess.run([*CRM, *args], env=awkward, check=True, capture_output=True, timeout=60)
    long_word = "https://example.com/orders/" + "x" * 70
    for ref, amount, note in [("1", "1234567.89", long_word), ("2", "5.00", "とても良い買い物でした " * 6),
                              ("1", "12.50", ""), ("2", "7.25", "short"), ("4", "0.01", "")]:
        subprocess.run([*CRM, "interaction", "add", ref, "--type", "purchase", "--amount", amount, "--note", note],
                       env=awkward, check=True, capture_output=True, timeout=60)
    subprocess.run([*CRM, "feedback", "add", "3", "--type", "complaint", "--note", long_word + " " + "late " * 30,
                    "--by", "Anh"], env=awkward, check=True, capture_output=True, timeout=60)
    return {"demo": demo, "awkward": awkward}


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("shop", ["demo", "awkward"])
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_tables_fit_and_show_every_value_whole(shops, shop, width, args):
    env = shops[shop]
    screen = on_a_terminal(args, width, env)
    lines = screen.splitlines()
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, f"lines wider than {width}:\n" + "\n".join(too_wide)
    if args[:2] == ("customer", "show"):
        return  # a record, several tables: its values are checked below
    full = off_a_terminal(args, env)
    if "─" not in full:
        return  # an empty table: its hint (checked elsewhere)
    on_screen = Counter(screen.split())
    unbroken = "".join(screen.split())  # a word wider than the terminal folds at its edge, whole
    left_out = _left_out(_notes(lines))
    for titles, rows in tables_of(full):
        shown = [n for n, title in enumerate(titles) if f" {title}," not in f" {left_out},"]
        needed = Counter(word for row in rows for n in shown for word in row[n].split()
                         if cell_len(word) < width - 8 or word not in unbroken)
        missing = needed - on_screen
        assert not missing, f"values cut or dropped at {width} columns: {sorted(missing)[:10]}\n{screen}"


def _notes(lines: list[str]) -> str:
    """The notes under the tables, `(not shown at ...)`, each perhaps wrapped over several lines."""
    notes, inside = [], False
    for line in lines:
        inside = inside or line.startswith("(not shown at")
        if inside:
            notes.append(line)
            inside = not line.endswith(")")
    return " ".join(notes)


def _left_out(note: str) -> str:
    """The column titles a table's note says it left out, as 'a, b, c'."""
    return ", ".join(re.findall(r"not shown at \d+ columns: (.*?);", note))


@pytest.mark.slow
@pytest.mark.parametrize("width", [80, 120])
def test_best_customers_keep_the_line_budget(shops, width):
    """20 rows of `report best` in about 30 lines at 80 columns; no row over 3 lines at either width."""
    screen = on_a_terminal(("report", "best"), width, shops["demo"])
    lines = screen.splitlines()
    body = lines[lines.index(next(line for line in lines if line.startswith("─"))) + 1:]
    rows = [line for line in body if re.match(r"\s*\d+\s", line)]
    assert len(rows) == 20
    rest = [line for line in body if not line.startswith("(")]
    assert len(rest) <= 3 * len(rows)
    if width == 80:
        assert len(lines) <= 32, screen
    else:
        assert "why: " in screen, "at 120 columns the why sentence fits under each row"


def test_a_value_shown_in_a_table_matches_its_csv(shops):
    """The table off a terminal (what the screen test compares against) holds the CSV's values: text as it
    is, amounts with their cents, scores to two decimals."""
    env = shops["demo"]
    full = off_a_terminal(("customer", "list"), env)
    titles, rows = tables_of(full)[0]
    csv_text = subprocess.run([*CRM, "customer", "list", "--format", "json"], capture_output=True, text=True,
                              env=env, check=True).stdout
    import json

    records = json.loads(csv_text)
    by_title = {title: n for n, title in enumerate(titles)}
    assert len(rows) == min(len(records), 100)
    for row, record in zip(rows, records, strict=False):
        assert row[by_title["name"]] == record["name"]
        assert row[by_title["email"]] == (record["email"] or "")
        assert row[by_title["revenue"]] == f"{record['revenue']:.2f}"


def test_tables_name_what_they_leave_out(shops):
    screen = on_a_terminal(("customer", "list"), 80, shops["demo"])
    assert "not shown at 80 columns:" in screen and "--wide" in screen
    wide = on_a_terminal(("customer", "list", "--wide", "--limit", "3"), 80, shops["demo"])
    assert "not shown" not in wide
    assert all(cell_len(line) <= 80 for line in wide.splitlines())


def test_empty_tables_say_what_to_do_next(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"CRM_DB": str(tmp_path / "new.db"),
                                                                     "HOME": str(tmp_path)}
    subprocess.run([*CRM, "customer", "add", "First"], env=env, check=True, capture_output=True)
    for args, hint in [(("report", "best"), "crm demo"), (("feedback", "list"), "crm feedback add"),
                       (("import", "list"), "crm customer import"), (("target", "list"), "crm target set")]:
        assert hint in on_a_terminal(args, 80, env), args
    Path(tmp_path / "new.db").unlink()
