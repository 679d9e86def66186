"""A small or new shop (issue 15, item 3): with 1, 3, 10 or 30 customers crm says plainly that there is
too little history for a model, says how much more it needs, and shows history instead of forecasts
(analytics/history.py). Three generators, so nothing is tuned to one shape of shop: regulars at their
own habit, a mix of regulars and one-time buyers, and one-time buyers only. Every shop also has the
issue's two customers: a one-time buyer of 2,500.00 today, and a regular 11 days into a 25-day habit.
"""

import json
import random
from datetime import datetime, timedelta

import pytest
from helpers import freeze

from crmcli import customers, db, interactions
from crmcli.analytics import history

NOW = datetime(2026, 12, 2, 12, 0, 0)
TODAY = NOW.date()


def _regular(rng, last_days_ago):
    gap = rng.uniform(5, 45)
    day, days = TODAY - timedelta(days=last_days_ago), []
    for _ in range(rng.randint(2, 12)):
        days.append(day)
        day -= timedelta(days=max(1, round(rng.expovariate(1 / gap))))
    return days


def regulars(rng):
    return _regular(rng, rng.choice([0, 2, 9, 30, 120]))


def mixed(rng):
    return regulars(rng) if rng.random() < 0.5 else [TODAY - timedelta(days=rng.randint(0, 500))]


def one_timers(rng):
    return [TODAY - timedelta(days=rng.randint(0, 700))]


def build(conn, count, generator, seed):
    """`count` customers: customer 1 the one-time buyer of 2,500.00 today, customer 2 (from 3 on) the
    regular who last bought 11 days ago every 25 days, the rest from the generator."""
    rng = random.Random(seed)
    with db.transaction(conn):
        for n in range(1, count + 1):
            customer = customers.add(conn, f"Customer {n}")
            if n == 1:
                purchases = [(TODAY, "2500.00")]
            elif n == 2:
                purchases = [(TODAY - timedelta(days=11 + 25 * k), "40.00") for k in range(5)]
            else:
                purchases = [(day, f"{rng.uniform(3, 300):.2f}") for day in generator(rng)]
            for day, amount in purchases:
                interactions.add(conn, customer, "purchase", at=f"{day.isoformat()}T10:00:00", amount=amount)


def json_rows(result):
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("generator", [regulars, mixed, one_timers], ids=lambda g: g.__name__)
@pytest.mark.parametrize("count", [1, 3, 10, 30])
def test_a_small_shop_gets_history_not_forecasts(conn, crm, monkeypatch, count, generator):
    freeze(monkeypatch, NOW)
    build(conn, count, generator, seed=count)
    best = crm("report", "best", "--limit", "0", "--format", "json")
    churn = crm("report", "churn", "--limit", "0", "--format", "json")
    for result in (best, churn):
        # Said plainly, with how much more a fit needs.
        assert f"a fit needs at least 100 buyers ({100 - count} more)" in result.stderr
        assert "no forecast (model: history)" in result.stderr
        assert "Gamma-Gamma" not in result.stderr  # no spend is forecast, so nothing to say how
    best_rows, churn_rows = json_rows(best), json_rows(churn)
    assert len(best_rows) == len(churn_rows) == count
    for row in best_rows:
        assert row["model"] == "history"
        assert (row["p_alive"], row["expected_purchases"], row["expected_spend"], row["predicted_clv"]) == (None,) * 4
        assert row["last_purchase"] and row["segment"] and f"RFM {row['recency_score']}" in row["why"]
    for row in churn_rows:
        assert (row["p_alive"], row["churn_risk"], row["value_at_risk"], row["value_if_active"]) == (None,) * 4
    # The churn report: most overdue against their own rhythm first.
    gap = {r["customer_id"]: r["typical_gap_days"] for r in churn_rows}
    one_time_gap = _shop_median_gap(churn_rows)
    overdue = [r["days_since_last_purchase"] / max(gap[r["customer_id"]] or one_time_gap, 1.0) for r in churn_rows]
    assert overdue == sorted(overdue, reverse=True)
    # The two customers: no extrapolation of the 2,500.00, and the regular is not called gone.
    ann = next(r for r in best_rows if r["customer_id"] == 1)
    assert ann["why"].startswith("bought once, today; spent 2500.00")
    if count >= 3:
        bob = next(r for r in churn_rows if r["customer_id"] == 2)
        assert bob["typical_gap_days"] == 25.0 and "within the usual gap" in bob["why"]
        assert "lapsed" not in bob["why"]
        shown = json_rows(crm("customer", "show", "2", "--format", "json"))["scores"]
        assert shown["model"] == "history" and shown["churn_risk"] is None and "within the usual gap" in shown["why"]


def _shop_median_gap(rows):
    gaps = sorted(r["typical_gap_days"] for r in rows if r["typical_gap_days"])
    if not gaps:
        return 90.0
    middle = len(gaps) // 2
    return gaps[middle] if len(gaps) % 2 else (gaps[middle - 1] + gaps[middle]) / 2


def test_lapsed_is_three_usual_gaps_of_silence(conn, crm, monkeypatch):
    """A regular every 10 days: silent 30 days is not lapsed (3 gaps exactly), 31 is; --min-risk, with
    no probability to compare, keeps the lapsed ones only."""
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        for name, last in (("On time", 30), ("Late", 31)):
            customer = customers.add(conn, name)
            for k in range(4):
                interactions.add(conn, customer, "purchase", at=(TODAY - timedelta(days=last + 10 * k)).isoformat(),
                                 amount="10")
    rows = json_rows(crm("report", "churn", "--format", "json"))
    assert [(r["name"], "counted lapsed" in r["why"]) for r in rows] == [("Late", True), ("On time", False)]
    assert [r["name"] for r in json_rows(crm("report", "churn", "--min-risk", "0.5", "--format", "json"))] == ["Late"]


def test_shortfall_says_what_is_missing():
    assert history.shortfall(2, 3) == ("2 of 3 buyers bought more than once; a fit needs at least 100 buyers "
                                       "(97 more) and 20 repeat buyers (18 more)")
    assert history.shortfall(15, 150).endswith("a fit needs at least 20 repeat buyers (5 more)")
    assert history.shortfall(25, 300).endswith("at least 30 repeat buyers, 10% of the buyers (5 more)")
    assert history.shortfall(1, 1).startswith("1 of 1 buyer bought")
    assert history.shortfall(0, 0) == "no purchases yet; a fit needs at least 100 buyers and 20 repeat buyers"


def test_a_one_time_buyer_is_valued_at_the_shop_s_spend_not_her_own_first_amount(conn, crm, monkeypatch):
    """Enough customers for a purchase model: the one-time buyer of 2,500.00 is expected to spend what
    the shop's customers spend (Gamma-Gamma's population mean, or with too few repeat buyers for it the
    shop's average purchase), not 2,500.00 a time: her CLV is not a multiple of a purchase nobody repeats."""
    freeze(monkeypatch, NOW)
    build(conn, 200, mixed, seed=3)
    rows = json_rows(crm("report", "best", "--limit", "0", "--format", "json", "--model", "pareto"))
    assert {r["model"] for r in rows} <= {"pareto", "pareto_limit"}
    ann = next(r for r in rows if r["customer_id"] == 1)
    total = sum(float(r["revenue"]) for r in rows)
    shop_average = total / sum(r["purchases"] for r in rows)
    assert float(ann["expected_spend"]) < 2 * shop_average < 2500
    assert float(ann["predicted_clv"]) < 2500


def test_average_purchase():
    assert history.average_purchase([1000, 3000, -500], [1, 3, 1]) == pytest.approx(40.0 / 5)
    assert history.average_purchase([], []) == 0.0
