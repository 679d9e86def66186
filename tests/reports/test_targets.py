"""`crm target set|list|remove`: values checked and stored exactly, listed beside the last period's actual."""

import csv
import io
import json
from datetime import datetime
from decimal import Decimal

import pytest
from helpers import assert_error, freeze, unchanged
from test_summary import NOW, hand_built_shop

from crmcli import db
from crmcli.reports import targets

# The same tests on an SQLite file and on a PostgreSQL server (tests/conftest.py).
pytestmark = pytest.mark.both_backends


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    hand_built_shop(conn)
    return conn


def stored(conn):
    return [tuple(row) for row in conn.execute(
        "SELECT metric, per, value, amount_cents, set_at FROM targets ORDER BY metric, per")]


@pytest.mark.parametrize("metric, value, expected", [
    ("revenue", "1234.5", ("revenue", "month", None, 123450)),
    ("revenue", "0.1", ("revenue", "month", None, 10)),
    ("retention_rate", "0.6", ("retention_rate", "month", 0.6, None)),
    ("retention-rate", "60%", ("retention_rate", "month", 0.6, None)),
    ("Retention_Rate", "100%", ("retention_rate", "month", 1.0, None)),
    ("new_customers", "12", ("new_customers", "month", 12.0, None)),
    ("new-customers", "0", ("new_customers", "month", 0.0, None)),
    ("median_resolution_days", "1.5", ("median_resolution_days", "month", 1.5, None)),
])
def test_set_stores_the_value_exactly(conn, crm, monkeypatch, metric, value, expected):
    freeze(monkeypatch, NOW)
    result = crm("target", "set", metric, value)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and "target set:" in result.stderr
    assert stored(conn) == [(*expected, "2024-06-15T12:00:00")]


@pytest.mark.parametrize("args, fragments", [
    (["revenue", "12.345"], ["value", "more than 2 decimal places", "12.345"]),
    (["revenue", "--", "-5"], ["value", "negative"]),
    (["revenue", "10%"], ["value", "not a number"]),
    (["retention_rate", "1.5"], ["value", "share from 0 to 1", "1.5"]),
    (["retention_rate", "150%"], ["value", "150%"]),
    (["new_customers", "2.5"], ["value", "whole number", "2.5"]),
    (["new_customers", "20%"], ["value", "percentage is only meaningful"]),
    (["new_customers", "lots"], ["value", "not a number", "lots"]),
    (["median_resolution_days", "--", "-1"], ["value", "0 or more"]),
    (["median_resolution_days", "nan"], ["value", "0 or more"]),
    (["active_customers", "5"], ["metric", "must be one of new_customers, retention_rate", "active_customers"]),
])
def test_bad_targets_are_refused_and_change_nothing(shop, crm, isolated_database, args, fragments):
    crm("target", "set", "revenue", "500")
    with unchanged(isolated_database):
        assert_error(crm("target", "set", *args), 1, *fragments)


def test_unknown_period_is_a_usage_error(shop, crm, isolated_database):
    with unchanged(isolated_database):
        result = crm("target", "set", "revenue", "5", "--per", "week")
    assert result.exit_code == 2 and "--per" in result.stderr


def test_set_again_replaces_and_each_period_kind_has_its_own(shop, crm, monkeypatch):
    crm("target", "set", "revenue", "500")
    crm("target", "set", "revenue", "1500", "--per", "quarter")
    freeze(monkeypatch, datetime(2024, 6, 16, 9, 0, 0))
    crm("target", "set", "revenue", "600")
    assert stored(shop) == [("revenue", "month", None, 60000, "2024-06-16T09:00:00"),
                            ("revenue", "quarter", None, 150000, "2024-06-15T12:00:00")]
    assert targets.targets_for(shop, "month") == {"revenue": Decimal("600.00")}


def test_list_shows_the_last_complete_period(shop, crm):
    for args in (["revenue", "150"], ["new_customers", "1"], ["retention_rate", "40%"],
                 ["median_resolution_days", "3"], ["revenue", "400", "--per", "quarter"],
                 ["new_customers", "3", "--per", "year"]):
        assert crm("target", "set", *args).exit_code == 0
    result = crm("target", "list", "--format", "csv")
    assert result.stdout.splitlines()[0] == ",".join(targets.LIST_COLUMNS)
    rows = [(r["metric"], r["per"], r["direction"], r["target"], r["last_period"], r["actual"], r["met"])
            for r in csv.DictReader(io.StringIO(result.stdout))]
    # Hand-computed actuals of the shop in test_summary.py (May 2024, Q1 2024, 2023).
    assert rows == [
        ("new_customers", "month", "at least", "1", "2024-05", "1", "true"),
        ("retention_rate", "month", "at least", "0.4", "2024-05", "0.3333", "false"),
        ("median_resolution_days", "month", "at most", "3.0", "2024-05", "2.0", "true"),
        ("revenue", "month", "at least", "150.00", "2024-05", "100.00", "false"),
        ("revenue", "quarter", "at least", "400.00", "2024-Q1", "125.00", "false"),
        ("new_customers", "year", "at least", "3", "2023", "0", "false"),
    ]
    as_json = json.loads(crm("target", "list", "--format", "json").stdout)
    assert as_json[3]["target"] == 150.0 and as_json[3]["met"] is False
    assert "Targets" in crm("target", "list", "--format", "table").stdout


def test_remove(shop, crm, isolated_database):
    crm("target", "set", "revenue", "150")
    crm("target", "set", "revenue", "450", "--per", "quarter")
    result = crm("target", "remove", "revenue")
    assert result.exit_code == 0 and "target removed: revenue per month" in result.stderr
    assert [(m, p) for m, p, *_ in stored(shop)] == [("revenue", "quarter")]
    with unchanged(isolated_database):
        assert_error(crm("target", "remove", "revenue"), 1, "no target for revenue per month")
        assert_error(crm("target", "remove", "profit", "--per", "quarter"), 1, "metric", "profit")


def test_the_demo_sets_targets(conn, monkeypatch):
    from crmcli import demo
    from crmcli.reports import metrics

    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        counts = demo.fill(conn, count=200, seed=1)
    rows = targets.list_targets(conn)
    assert counts["targets"] == len(rows) == 5
    assert {(r["metric"], r["per"]) for r in rows} == {*((m, "month") for m in targets.TARGET_METRICS),
                                                       ("revenue", "quarter")}
    monthly = {r["metric"]: r["target"] for r in rows if r["per"] == "month"}
    quarterly = next(r["target"] for r in rows if r["per"] == "quarter")
    assert quarterly == 3 * monthly["revenue"] and monthly["revenue"] % 100 == 0
    # Each target is the median of the last 12 complete months, rounded as a person would.
    month = metrics.last_complete("month", NOW.date())
    months = [month]
    while len(months) < 12:
        months.append(months[-1].previous())
    revenue = sorted(metrics.period_metrics(conn, p, ("revenue",))["revenue"] for p in months)
    median = (revenue[5] + revenue[6]) / 2
    assert monthly["revenue"] - 100 < median <= monthly["revenue"]
    # Targets go with the data when the demo is replaced.
    crm_targets = conn.execute("SELECT count(*) FROM targets").fetchone()[0]
    with db.transaction(conn):
        demo.fill(conn, count=0, seed=1, replace=True)
    assert crm_targets == 5 and conn.execute("SELECT count(*) FROM targets").fetchone()[0] == 0
