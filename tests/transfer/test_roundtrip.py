"""Property: any Unicode name and note survives `crm ... add` -> csv / json / jsonl export -> parse.

What the core does to text on the way in, stated here rather than weakened away:
  * names and notes are stripped of surrounding whitespace (str.strip) and NFC-normalised;
  * an empty note is stored as nothing: "" in CSV, null in JSON.
What CSV does on the way out:
  * a text cell a spreadsheet would run gets a leading apostrophe (formula injection; the rule is
    helpers.spreadsheet_would_run: = @ tab CR first, or + - first unless a plain number or phone).
Everything else must come back exactly, including quotes, commas, newlines and control characters.
"""

import csv
import io
import json
import tempfile
import unicodedata
from pathlib import Path

from helpers import spreadsheet_would_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from crmcli.cli import app

# Any character but surrogates (not encodable) and NUL (cannot be passed in argv).
any_char = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
names = st.text(any_char, min_size=1, max_size=40).filter(lambda s: s.strip())
notes = st.text(any_char, max_size=80)
# Edge cases hypothesis might take a while to find on its own.
names = names | st.sampled_from(["=1+1", "-5", "@SUM(A1)", "+84 90", "+63 917 555 0101", "-12.50", "-2+3",
                                 'Lee, "Ann"', "a\nb", "a\r\nb",
                                 "Nguye\u0302\u0303n", "[bold]x[/bold]", "\x1b[31mred", "--help", "1",
                                 " \u00a0x\u2028"])


def stored(text: str) -> str | None:
    cleaned = unicodedata.normalize("NFC", text.strip())
    return cleaned or None


def in_csv(value: str | None) -> str:
    """The cell crm writes for stored text (crmcli/transfer/csvcells.py says the rule): one apostrophe more
    in front of text a spreadsheet would run, and of text that starts with an apostrophe and then a trigger
    or another apostrophe, which an import would otherwise take one off ("'\t0" is written "''\t0")."""
    if value is None:
        return ""
    looks_escaped = value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r", "'")
    return "'" + value if spreadsheet_would_run(value) or looks_escaped else value


def parse_csv(result) -> list[dict]:
    return list(csv.DictReader(io.StringIO(result.stdout_bytes.decode("utf-8"), newline="")))


def parse_json(result) -> list[dict]:
    return json.loads(result.stdout_bytes.decode("utf-8"))


def parse_jsonl(result) -> list[dict]:
    lines = result.stdout_bytes.decode("utf-8").split("\n")
    assert lines[-1] == ""
    return [json.loads(line) for line in lines[:-1]]


# The autouse CRM_DB fixture is function-scoped and not reset between examples; that is fine because
# every example passes its own fresh database with --db.
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, note=notes)
def test_name_and_note_survive_add_export_and_parse(name, note, monkeypatch):
    # Scores (analytics) are not what this property is about; keep `customer show` fast and independent.
    monkeypatch.setattr("crmcli.cli.views.customer_scores", lambda conn, customer_id: None)
    runner = CliRunner()
    with tempfile.TemporaryDirectory() as folder:
        database = str(Path(folder) / "crm.db")

        def crm(*args):
            result = runner.invoke(app, ["--db", database, *args])
            assert result.exit_code == 0, (args, result.stderr, result.exception)
            return result

        # "--" ends the options, so a name like "-5" or "--help" is a name; "--note=..." keeps any note whole.
        assert crm("customer", "add", f"--note={note}", "--", name).stdout == "1\n"
        assert crm("interaction", "add", "1", "--type", "call", f"--note={note}").stdout == "1\n"

        want_name, want_note = stored(name), stored(note)

        [row] = parse_csv(crm("customer", "list", "--format", "csv"))
        assert row["name"] == in_csv(want_name)
        for parse, fmt in ((parse_json, "json"), (parse_jsonl, "jsonl")):
            [row] = parse(crm("customer", "list", "--format", fmt))
            assert row["name"] == want_name

        [row] = parse_csv(crm("interaction", "list", "--format", "csv"))
        assert (row["customer_name"], row["note"]) == (in_csv(want_name), in_csv(want_note))
        for parse, fmt in ((parse_json, "json"), (parse_jsonl, "jsonl")):
            [row] = parse(crm("interaction", "list", "--format", fmt))
            assert (row["customer_name"], row["note"]) == (want_name, want_note)

        record = parse_json(crm("customer", "show", "1", "--format", "json"))
        assert (record["customer"]["name"], record["customer"]["note"]) == (want_name, want_note)
