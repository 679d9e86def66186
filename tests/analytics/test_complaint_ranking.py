"""Complaints in the churn ranking (issue 15, item 5): used only where the shop's own backtest supports
them (signals.py measures, `crm report model --backtest` stores, report.use_complaint_signal applies),
and then said in the why sentence and counted in the value at risk."""

import json
import random
from datetime import datetime, timedelta

import pytest
from helpers import freeze

from crmcli import customers, db, feedback, interactions

NOW = datetime(2026, 12, 1, 12, 0, 0)
START = NOW.date() - timedelta(days=720)


def shop(conn, *, complainers_leave: bool, seed: int = 4):
    """600 customers buying at their own steady rate over two years (a few stop at random); 120 of them
    complain on day 300 and, if complainers_leave, buy nothing more after it."""
    rng = random.Random(seed)
    with db.transaction(conn):
        for n in range(600):
            customer = customers.add(conn, f"Customer {n}")
            rate = rng.gammavariate(2.0, 1 / 60)  # about a purchase a month on average
            stops = rng.uniform(0, 720) if rng.random() < 0.3 else 720
            complains = n < 120
            if complains:
                feedback.add(conn, customer, "complaint", at=(START + timedelta(days=300)).isoformat(), note="slow")
                if complainers_leave:
                    stops = min(stops, 300)
            day = rng.uniform(0, 200)
            first = True
            while first or day < stops:
                interactions.add(conn, customer, "purchase", at=(START + timedelta(days=int(day))).isoformat(),
                                 amount=f"{rng.uniform(10, 60):.2f}")
                first = False
                day += rng.expovariate(rate)


def churn(crm, *extra):
    result = crm("report", "churn", "--limit", "0", "--format", "json", "--model", "bgnbd", *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def near(expected, row):
    """Within the rounding of the row: P(alive) has 4 decimals, money 2."""
    return pytest.approx(expected, abs=1e-4 * row["value_if_active"] + 0.011)


@pytest.fixture
def frozen(monkeypatch):
    freeze(monkeypatch, NOW)


def test_before_any_backtest_complaints_are_shown_not_used(frozen, conn, crm):
    shop(conn, complainers_leave=True)
    rows, stderr = churn(crm)
    assert "is not measured yet: `crm report model --backtest` measures it" in stderr
    flagged = [r for r in rows if r["open_complaints"]]
    assert flagged and all("in this shop customers with complaints" not in r["why"] for r in flagged)
    for r in rows:  # value at risk is the model's alone
        assert r["value_at_risk"] == near(r["churn_risk"] * r["value_if_active"], r)


def test_a_supported_signal_counts_in_the_ranking_and_the_why(frozen, conn, crm):
    shop(conn, complainers_leave=True)
    backtest = crm("report", "model", "--backtest", "--format", "json")
    assert backtest.exit_code == 0, backtest.stderr
    signal = next(r for r in json.loads(backtest.stdout) if r["kind"] == "complaints" and r["model"] == "bgnbd")
    assert signal["supported"] is True and signal["lift"] < 1
    rows, stderr = churn(crm)
    assert "complaints and low ratings count in the ranking: supported" in stderr
    lift = signal["lift"]
    for r in rows:
        if r["open_complaints"]:
            # value x (1 - P(alive) x lift): more at risk than the model alone says.
            assert r["value_at_risk"] == near(r["value_if_active"] * (1 - r["p_alive"] * lift), r)
            assert f"bought {lift:.2f}x their predicted purchases" in r["why"]
        else:
            assert r["value_at_risk"] == near(r["churn_risk"] * r["value_if_active"], r)
            assert "their predicted purchases" not in r["why"]
    ranked = [r["value_at_risk"] for r in rows]
    assert ranked == sorted(ranked, reverse=True)


def test_an_unsupported_signal_changes_nothing(frozen, conn, crm):
    shop(conn, complainers_leave=False)
    before, _ = churn(crm)
    assert crm("report", "model", "--backtest", "--format", "csv").exit_code == 0
    after, stderr = churn(crm)
    assert "complaints are not used in the ranking: the backtest of" in stderr
    assert [(r["customer_id"], r["value_at_risk"], r["why"]) for r in after] == \
        [(r["customer_id"], r["value_at_risk"], r["why"]) for r in before]
