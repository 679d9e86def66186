"""The report commands on a seeded demo shop: columns, rankings, filters, as-of, fallback, explanations."""

import csv
import io
import json
import math
from datetime import datetime

import pytest
from helpers import assert_error, db_dump, freeze

from crmcli import customers, db, demo, interactions
from crmcli.analytics import report
from crmcli.analytics.data import load

NOW = datetime(2026, 11, 22, 12, 0, 0)


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=300, seed=7)
    return conn


def rows_of(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_best_columns_ranking_and_explanations(shop, crm):
    result = crm("report", "best", "--format", "csv")
    rows = rows_of(result)
    # The default, --model auto: every row names the model it chose, the one `report model` says it chose.
    chosen = [m["model"] for m in json.loads(crm("report", "model", "--format", "json").stdout) if m["chosen"] == "yes"]
    header = result.stdout.splitlines()[0].split(",")
    assert header == list(report.BEST_COLUMNS)
    assert len(rows) == 20  # the default limit
    assert [int(r["rank"]) for r in rows] == list(range(1, 21))
    clv = [float(r["predicted_clv"]) for r in rows]
    assert clv == sorted(clv, reverse=True)
    for row in rows:
        assert 0.0 <= float(row["p_alive"]) <= 1.0
        assert [row["model"]] == chosen
        assert row["segment"] in report.SEGMENT_ADVICE
        assert {row["recency_score"], row["frequency_score"], row["monetary_score"]} <= set("12345")
        # why is built from the row's own numbers
        assert (f"last bought {row['days_since_last_purchase']} day" in row["why"]
                or row["days_since_last_purchase"] == "0")
        assert f"RFM {row['recency_score']}{row['frequency_score']}{row['monetary_score']}" in row["why"]


def test_best_limit_zero_is_every_buyer_and_by_revenue_orders_by_revenue(shop, crm):
    everyone = rows_of(crm("report", "best", "--limit", "0", "--by", "revenue"))
    buyers = shop.execute("SELECT count(DISTINCT customer_id) FROM interactions WHERE type = 'purchase'").fetchone()[0]
    assert len(everyone) == buyers
    revenue = [float(r["revenue"]) for r in everyone]
    assert revenue == sorted(revenue, reverse=True)
    by_rfm = rows_of(crm("report", "best", "--limit", "0", "--by", "rfm"))
    totals = [int(r["recency_score"]) + int(r["frequency_score"]) + int(r["monetary_score"]) for r in by_rfm]
    assert totals == sorted(totals, reverse=True)


def test_best_segment_filter_and_bad_segment(shop, crm, isolated_database):
    at_risk = rows_of(crm("report", "best", "--segment", "at risk", "--limit", "0"))
    assert at_risk and {r["segment"] for r in at_risk} == {"At risk"}
    before = db_dump(isolated_database)
    assert_error(crm("report", "best", "--segment", "Royalty"), 1, "segment", "'Royalty'", "Champions")
    assert db_dump(isolated_database) == before


def test_churn_ranked_by_value_at_risk_with_min_risk(shop, crm):
    result = crm("report", "churn", "--limit", "0", "--min-risk", "0.5")
    rows = rows_of(result)
    assert result.stdout.splitlines()[0].split(",") == list(report.CHURN_COLUMNS)
    var = [float(r["value_at_risk"]) for r in rows]
    assert var == sorted(var, reverse=True)
    assert all(float(r["churn_risk"]) >= 0.5 for r in rows)
    for r in rows:
        assert float(r["churn_risk"]) == pytest.approx(1 - float(r["p_alive"]), abs=2e-4)
        assert float(r["value_at_risk"]) == pytest.approx(float(r["churn_risk"]) * float(r["value_if_active"]),
                                                          rel=2e-3, abs=0.02)
        assert "likely to have left" in r["why"]
    complaining = [r for r in rows if int(r["open_complaints"])]
    assert all("open complaint" in r["why"] for r in complaining)


def test_churn_pareto_does_not_call_every_one_time_buyer_alive(shop, crm):
    pareto_rows = rows_of(crm("report", "churn", "--limit", "0", "--model", "pareto"))
    bgnbd_rows = rows_of(crm("report", "churn", "--limit", "0", "--model", "bgnbd"))
    once_pareto = [r for r in pareto_rows if r["purchases"] == "1" and int(r["days_since_last_purchase"]) > 365]
    once_bgnbd = [r for r in bgnbd_rows if r["purchases"] == "1"]
    assert once_pareto and all(float(r["p_alive"]) < 0.9 for r in once_pareto)
    assert once_bgnbd and all(float(r["p_alive"]) == 1.0 for r in once_bgnbd)  # BG/NBD's known flaw


def test_as_of_reproduces_a_report_later(shop, crm, monkeypatch):
    first = crm("report", "best", "--as-of", "2026-06-30", "--limit", "0", "--format", "json")
    churn = crm("report", "churn", "--as-of", "2026-06-30", "--limit", "0", "--format", "json")
    with db.transaction(shop):
        someone = customers.add(shop, "Late Comer")
        interactions.add(shop, someone, "purchase", at="2026-07-01", amount="999")
        interactions.add(shop, 1, "purchase", at="2026-11-01", amount="50")
    assert crm("report", "best", "--as-of", "2026-06-30", "--limit", "0", "--format", "json").stdout == first.stdout
    assert crm("report", "churn", "--as-of", "2026-06-30", "--limit", "0", "--format", "json").stdout == churn.stdout
    rows = json.loads(first.stdout)
    assert all(r["last_purchase"] <= "2026-06-30" for r in rows)


def test_segments_add_up(shop, crm):
    rows = rows_of(crm("report", "segments"))
    assert [r["segment"] for r in rows] == list(report.SEGMENT_ADVICE)
    base = load(shop, NOW.date())
    assert sum(int(r["customers"]) for r in rows) == len(base)
    assert sum(float(r["revenue"]) for r in rows) == pytest.approx(base.revenue_cents.sum() / 100)
    assert sum(float(r["revenue_share"]) for r in rows) == pytest.approx(1.0, abs=1e-3)


def test_model_report_json(shop, crm):
    result = crm("report", "model", "--format", "json")
    assert result.exit_code == 0, result.stderr
    models = json.loads(result.stdout)
    assert [m["model"] for m in models] == ["pareto", "bgnbd", "mbgnbd", "gamma_gamma"]
    keys = {"bgnbd": {"r", "alpha", "a", "b"}, "pareto": {"r", "alpha", "s", "beta"},
            "mbgnbd": {"r", "alpha", "a", "b"}, "gamma_gamma": {"p", "q", "gamma"}}
    # Every candidate of --model auto with its BIC = k ln n - 2 LL; one chosen, the lowest, and why.
    candidates = models[:3]
    for m in candidates:
        assert m["bic"] == pytest.approx(4 * math.log(m["customers"]) - 2 * m["log_likelihood"], abs=1e-3)
    assert [m["chosen"] for m in candidates].count("yes") == 1 and models[3]["chosen"] is None
    winner = next(m for m in candidates if m["chosen"] == "yes")
    assert winner["bic"] == min(m["bic"] for m in candidates) and winner["why"].startswith("chosen: lowest BIC")
    assert all(m["why"].startswith("not chosen: BIC ") for m in candidates if m is not winner)
    assert f"chose {winner['model']}: lowest BIC" in result.stderr
    for m in models:
        assert set(m["params"]) == keys[m["model"]]
        assert m["time_unit"] == "day" and m["converged"] is True
        assert m["log_likelihood"] < 0 and m["customers"] >= m["repeat_customers"] > 20


def test_too_little_history_falls_back_and_says_so(conn, crm, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        for n in range(5):
            c = customers.add(conn, f"Customer {n}")
            interactions.add(conn, c, "purchase", at="2026-01-10", amount="20")
            if n < 3:
                interactions.add(conn, c, "purchase", at=f"2026-0{n + 2}-10", amount="30")
    result = crm("report", "churn", "--format", "json")
    assert result.exit_code == 0, result.stderr
    # How much more a fit needs: 100 buyers, 5 seen; 20 repeat buyers, 3 seen.
    assert "too little history to fit a model (3 of 5 buyers bought more than once; a fit needs at least 100 " \
           "buyers (95 more) and 20 repeat buyers (17 more))" in result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 5 and {r["model"] for r in rows} == {"history"}
    # No forecast is made up: every figure a model would give is empty, the history is there.
    for r in rows:
        assert (r["p_alive"], r["churn_risk"], r["value_at_risk"], r["value_if_active"]) == (None,) * 4
        assert r["purchases"] >= 1 and r["last_purchase"] and r["why"]


def test_report_on_an_empty_database(crm):
    assert crm("init").exit_code == 0  # a read command creates no database
    result = crm("report", "best", "--format", "csv")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [",".join(report.BEST_COLUMNS)]


@pytest.mark.parametrize("args, fragments", [
    (["report", "best", "--as-of", "31/12/2025"], ["as-of", "31/12/2025"]),
    (["report", "best", "--discount", "-0.5"], ["discount", "-0.5"]),
    (["report", "churn", "--min-risk", "2"], ["--min-risk"]),
])
def test_report_bad_input(shop, crm, args, fragments, isolated_database):
    before = db_dump(isolated_database)
    result = crm(*args)
    assert result.exit_code in (1, 2)
    for fragment in fragments:
        assert fragment in result.stderr
    assert db_dump(isolated_database) == before


def test_customer_show_has_scores_and_why(shop, crm):
    top = rows_of(crm("report", "best", "--limit", "1"))[0]
    result = crm("customer", "show", top["customer_id"], "--format", "json")
    assert result.exit_code == 0, result.stderr
    scores = json.loads(result.stdout)["scores"]
    assert scores["segment"] == top["segment"]
    assert scores["p_alive"] == pytest.approx(float(top["p_alive"]))
    assert scores["why"]
