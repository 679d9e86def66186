"""--columns, --sort and --wide, the options every listing and report takes (cli/listing.py)."""

import csv
import io

import pytest
from helpers import assert_error, command_tree, unchanged

from crmcli import customers, db, interactions


@pytest.fixture
def shop(conn):
    with db.transaction(conn):
        for name, amount in [("Cara", "5.00"), ("ann", "300.00"), ("Bea", "40.00"), ("Dan", None)]:
            customer = customers.add(conn, name, email=f"{name.lower()}@example.com")
            if amount:
                interactions.add(conn, customer, "purchase", at="2024-05-01", amount=amount)
    return conn


def rows(result):
    assert result.exit_code == 0, result.stderr
    return list(csv.reader(io.StringIO(result.stdout)))


def test_columns_pick_and_order_the_columns_in_every_format(shop, crm):
    got = rows(crm("customer", "list", "--columns", "revenue,name", "--format", "csv"))
    assert got[0] == ["revenue", "name"]
    assert sorted(got[1:]) == [["0.00", "Dan"], ["300.00", "ann"], ["40.00", "Bea"], ["5.00", "Cara"]]
    jsonl = crm("customer", "list", "--columns", "name", "--format", "jsonl").stdout.splitlines()
    assert jsonl[0] == '{"name": "Cara"}'


def test_sort_before_the_limit_numbers_by_value_text_without_case(shop, crm):
    by_revenue = rows(crm("customer", "list", "--sort", "-revenue", "--limit", "2", "--columns", "name", "-f", "csv"))
    assert by_revenue[1:] == [["ann"], ["Bea"]]  # 300 > 40: by value, not as text ("5.00" > "40.00")
    ascending = rows(crm("customer", "list", "--sort", "revenue:asc", "--columns", "name", "-f", "csv"))
    assert ascending[1:] == [["Dan"], ["Cara"], ["Bea"], ["ann"]]
    by_name = rows(crm("customer", "list", "--sort", "name", "--columns", "name", "-f", "csv"))
    assert by_name[1:] == [["ann"], ["Bea"], ["Cara"], ["Dan"]]
    last_purchase = rows(crm("customer", "list", "--sort", "last_purchase:desc", "--columns", "name", "-f", "csv"))
    assert last_purchase[-1] == ["Dan"]  # no purchase: empty values last, whichever the direction


@pytest.mark.parametrize("option", ["--columns", "--sort"])
def test_an_unknown_column_is_refused_naming_it_and_the_choices(shop, crm, isolated_database, option):
    with unchanged(isolated_database):
        result = crm("customer", "list", option, "name,revenu" if option == "--columns" else "revenu")
    assert_error(result, 1, option.removeprefix("--"), "'revenu'", "choose from", "revenue")


def test_every_listing_and_report_takes_columns_sort_and_wide():
    listings = {("customer", "list"), ("customer", "duplicates"), ("customer", "history"), ("interaction", "list"),
                ("feedback", "list"), ("followup", "list"), ("agenda",), ("import", "list"), ("target", "list"),
                ("report", "best"), ("report", "churn"), ("report", "segments"), ("report", "model"),
                ("report", "summary"), ("report", "staff")}
    seen = set()
    for path, command in command_tree():
        if path in listings:
            options = {opt for param in command.params for opt in param.opts}
            assert {"--columns", "--sort", "--wide"} <= options, path
            seen.add(path)
    assert seen == listings
