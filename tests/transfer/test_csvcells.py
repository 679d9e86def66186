"""The CSV formula rule, written once (crmcli/transfer/csvcells.py): what every crm CSV writes, an import
reads back as the text that was stored."""

from __future__ import annotations

import pytest

from crmcli import output
from crmcli.transfer import csvcells

TEXTS = ["plain", "", "'", "''", "'x", "'=x", "''=x", "'''", "-5", "+1", "@SUM(A1)", "=1+1", "\tx", "\rx", "'\tx",
         "a=b", " =x", "'-", "x'"]


@pytest.mark.parametrize("text", TEXTS)
def test_an_exported_cell_imports_back_as_it_was_stored(text):
    written = output.csv_cell(csvcells.escape_apostrophe(text))  # exports.rows, then the renderer
    assert not written.startswith(csvcells.FORMULA_TRIGGERS)  # nothing a spreadsheet would run
    assert csvcells.unescape(written) == text


@pytest.mark.parametrize("text", TEXTS)
def test_the_renderer_applies_the_one_rule(text):
    assert output.csv_cell(text) == csvcells.neutralise(text)


def test_each_trigger_gets_an_apostrophe_and_an_import_takes_it_off():
    for trigger in csvcells.FORMULA_TRIGGERS:
        assert csvcells.neutralise(f"{trigger}1") == f"'{trigger}1"
        assert csvcells.unescape(f"'{trigger}1") == f"{trigger}1"
    assert csvcells.unescape("'plain") == "'plain"  # an apostrophe crm did not add stays
    assert csvcells.escape_apostrophe("'plain") == "'plain"
