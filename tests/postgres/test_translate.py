"""crm's SQL as psycopg runs it (postgres._translate): placeholders, percent signs and the few SQLite-isms,
and never anything inside a quoted string or name. No server needed."""

from __future__ import annotations

import pytest

pytest.importorskip("psycopg")

from crmcli.db import is_server_address  # noqa: E402  (after the skip)
from crmcli.postgres import Row, _row_class, _translate, shown  # noqa: E402


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("SELECT * FROM t WHERE a = :id AND b < :end", "SELECT * FROM t WHERE a = %(id)s AND b < %(end)s"),
    # a percent sign is doubled (psycopg's own escape), and nothing in a string literal is touched
    ("SELECT 100 % 7, 'a?b:c %' FROM t WHERE x = ?", "SELECT 100 %% 7, 'a?b:c %%' FROM t WHERE x = %s"),
    ("SELECT 'it''s ? here' WHERE x = ?", "SELECT 'it''s ? here' WHERE x = %s"),
    ('SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = %s'),
    ("SELECT x::text FROM t WHERE y = ?", "SELECT x::text FROM t WHERE y = %s"),
    ("SELECT 1 -- why? because\nFROM t WHERE y = ?", "SELECT 1 -- why? because\nFROM t WHERE y = %s"),
])
def test_placeholders_become_psycopg_s(query, expected):
    assert _translate(query, True) == expected


def test_without_parameters_the_query_is_left_as_psycopg_leaves_it():
    assert _translate("SELECT '100%' LIKE 'x%'", False) == "SELECT '100%' LIKE 'x%'"


@pytest.mark.parametrize(("query", "expected"), [
    ("SELECT 1 FROM interactions NOT INDEXED WHERE id > ?", "SELECT 1 FROM interactions  WHERE id > %s"),
    ("FROM interactions INDEXED BY interactions_customer_type_at WHERE", "FROM interactions  WHERE"),
    ("o.at < d || char(1114111)", "o.at < d || chr(1114111)"),
    ("SELECT value FROM json_each(?)", "SELECT value FROM crm_json_ids(%s)"),
    ("DELETE FROM temp.summary_touched", "DELETE FROM pg_temp.summary_touched"),
    ("CREATE INDEX IF NOT EXISTS temp.k ON keys (a)", "CREATE INDEX IF NOT EXISTS k ON keys (a)"),
    ("SELECT group_concat(tag, ';')", "SELECT string_agg(tag, ';')"),
    ("WHERE instr(search_text, ?) > 0", "WHERE strpos(search_text, %s) > 0"),
    ("WHERE email_key = ? AND id IS NOT ?", "WHERE email_key = %s AND id IS DISTINCT FROM %s"),
    ("WHERE id IS ?", "WHERE id IS NOT DISTINCT FROM %s"),
    ("WHERE batch_id IS NOT :b", "WHERE batch_id IS DISTINCT FROM %(b)s"),
    ("WHERE note IS NULL AND id IS NOT NULL", "WHERE note IS NULL AND id IS NOT NULL"),
    ("WHERE id = CAST(? AS INTEGER)", "WHERE id = CAST(%s AS BIGINT)"),  # SQLite's INTEGER is 64 bits
    ("CREATE TEMP TABLE s (id INTEGER PRIMARY KEY)", "CREATE TEMP TABLE s (id BIGINT PRIMARY KEY)"),
])
def test_the_sqlite_isms_and_only_they_are_rewritten(query, expected):
    assert _translate(query, True) == expected


@pytest.mark.parametrize(("text", "is_server"), [
    ("postgresql://me@db/shop", True), ("postgres://db/shop", True), ("POSTGRESQL://db/shop", True),
    ("postgresql:/db/shop", False), ("shop.db", False), ("postgresql+psycopg://db/shop", False),
    ("./postgresql://x", False),
])
def test_what_counts_as_a_server_address(text, is_server):
    assert is_server_address(text) is is_server


def test_a_password_in_the_address_is_never_shown():
    assert shown("postgresql://ann:pa:ss@db/shop") == "postgresql://ann:***@db/shop"
    assert shown("postgresql://ann@db/shop?password=x") == "postgresql://ann@db/shop?password=***"


def test_rows_are_read_by_position_and_by_name_like_sqlite3_row():
    row = _row_class(("id", "name"))((7, "Ann"))
    assert isinstance(row, Row) and row[0] == 7 and row["name"] == "Ann" and row.keys() == ["id", "name"]
    assert dict(zip(row.keys(), row, strict=True)) == {"id": 7, "name": "Ann"} and tuple(row) == (7, "Ann")
