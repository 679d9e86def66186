"""The CSV formula rule, written once (crmcli/transfer/csvcells.py): what every crm CSV writes, an import
reads back as the text that was stored."""

from __future__ import annotations

import pytest
from helpers import spreadsheet_would_run
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcli import output
from crmcli.transfer import csvcells

TEXTS = ["plain", "", "'", "''", "'x", "'=x", "''=x", "'''", "-5", "+1", "@SUM(A1)", "=1+1", "\tx", "\rx", "'\tx",
         "a=b", " =x", "'-", "x'"]


@pytest.mark.parametrize("text", TEXTS)
def test_an_exported_cell_imports_back_as_it_was_stored(text):
    written = output.csv_cell(text)  # exports.rows hands the stored text to the renderer
    assert not spreadsheet_would_run(written)  # nothing a spreadsheet would run
    assert csvcells.unescape(written) == text


@pytest.mark.parametrize("text", TEXTS)
def test_the_renderer_applies_the_one_rule(text):
    assert output.csv_cell(text) == csvcells.cell(text)
    assert csvcells.cell(text) in (csvcells.neutralise(text), csvcells.escape_apostrophe(text))


def test_each_trigger_gets_an_apostrophe_and_an_import_takes_it_off():
    for trigger in csvcells.FORMULA_TRIGGERS:
        assert csvcells.neutralise(f"{trigger}A1") == f"'{trigger}A1"
        assert csvcells.unescape(f"'{trigger}A1") == f"{trigger}A1"
        assert csvcells.unescape(f"'{trigger}1") == f"{trigger}1"
    assert csvcells.unescape("'plain") == "'plain"  # an apostrophe crm did not add stays
    assert csvcells.escape_apostrophe("'plain") == "'plain"


# --- the rule, both ways ---------------------------------------------------------------------------------

# Each of these can be nothing but data: it passes unchanged.
HARMLESS = ["+63 917 555 0101", "+1 (555) 010-0101", "+44 20 7946 0958", "+84.90.123.4567", "-12.50", "-5", "+3",
            "-0.5", "+12345", "2026-11-30", "2026-11-20T14:30:00", "Nguyễn", "a=b", " =x", "'=x", ""]
# Each of these a spreadsheet could run (or is not a plain number or phone): neutralised.
FORMULAS = ["=1+1", "@SUM(A1)", "\tx", "\rx", "-2+3", "+A1", "-cmd|' /C calc'!A0", "+1+1", "+HYPERLINK(\"x\")",
            "-", "+", "+1-1", "-1e5", "-12.", "-.5", "- 5", "+ 63 917 555 0101", "+63 917 555 010a",
            "-63 917 555 0101", "+(63) 917 555 0101", "+63 917 555 0101 ", "+٦٣٩١٧٥٥٥٠١٠١", "-١٢",
            "+63 917+555 0101", "+1+1+1+1+1+1+1", "+1 555 010 0101|x", "-2-2-2-2-2-2-2"]


@pytest.mark.parametrize("text", HARMLESS)
def test_what_cannot_be_a_formula_passes_unchanged(text):
    assert not csvcells.is_formula(text)
    assert csvcells.neutralise(text) == text
    assert output.csv_cell(text) == csvcells.escape_apostrophe(text)  # text, or '=x with one more apostrophe


@pytest.mark.parametrize("text", FORMULAS)
def test_what_could_be_a_formula_is_neutralised(text):
    assert csvcells.is_formula(text)
    assert csvcells.neutralise(text) == "'" + text == output.csv_cell(text)


def test_the_examples_agree_with_the_tests_own_statement_of_the_rule():
    for text in HARMLESS:
        assert not spreadsheet_would_run(text), text
    for text in FORMULAS:
        assert spreadsheet_would_run(text), text


# Text made of what formulas and phone numbers are made of, so that both sides of the rule are drawn often.
formula_like = st.text(st.sampled_from("+-=@0123456789 ().|!A\t\r'"), max_size=16)


@settings(max_examples=2000)
@given(st.one_of(formula_like, st.text(max_size=16)))
def test_the_code_follows_the_rule_as_stated(text):
    assert csvcells.is_formula(text) == spreadsheet_would_run(text)
    assert output.csv_cell(text) == ("'" + text if spreadsheet_would_run(text) else csvcells.escape_apostrophe(text))


@settings(max_examples=2000)
@given(st.one_of(formula_like, st.text(max_size=16)))
def test_nothing_left_as_it_is_holds_a_letter_or_a_dde_character_after_a_sign(text):
    """Why the shapes that pass are safe: after a leading + or -, no letter (no function, no cell
    reference), no | ! : or " (no DDE, no range, no string), and no second + ."""
    cell = output.csv_cell(text)
    if cell[:1] in ("+", "-"):
        assert all(c in "0123456789 ().-" for c in cell[1:]), cell
    assert not cell.startswith(("=", "@", "\t", "\r"))


@settings(max_examples=500)
@given(st.one_of(formula_like, st.text(max_size=16)))
def test_any_text_exports_and_imports_back_as_it_was(text):
    written = output.csv_cell(text)
    assert csvcells.unescape(written) == text
