"""`crm report summary`: every metric computed by hand on a small shop, the tidy layout, the
table with trends, targets beside the actuals and the --check exit code.

The shop (the clock frozen at 2024-06-15 12:00; months April, May and June-to-date):

  customer  purchases (refunds)                                    staff
  A         03-10 100.00, 04-05 50.00, 05-20 30.00 + 20.00          Joy, Joy, Sam, Sam
            (refund 05-25 10.00)                                    (refund Joy)
  B         04-10 200.00, 06-01 40.00                               Joy, -
  C         05-02 60.00                                             Sam
  D         03-01 25.00                                             -  (a call by Joy on 06-05)
  E         none (a lead)
  F         04-20 10.00, 04-28 15.00                                Marco, Marco

  feedback: complaint A 04-03T10:00 rating 2 Joy, resolved 04-05T10:00 (2.0 days)
            complaint B 04-28T09:00 Joy, resolved 05-01T09:00 (3.0 days)
            complaint C 05-10 rating 1 Sam, resolved 05-11T00:00 (1.0 day)
            complaint F 06-02T10:00 Sam, open
            compliment A 04-10 rating 5 Joy; compliment B 05-15 rating 4 Sam;
            compliment C 05-16 no rating Marco; suggestion D 06-03 rating 3, no staff
"""

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal

import pytest
from helpers import assert_error, freeze, unchanged

from crmcli import customers, db, feedback, interactions
from crmcli.reports import metrics, summary_table, targets

# The same tests on an SQLite file and on a PostgreSQL server (tests/conftest.py).
pytestmark = pytest.mark.both_backends

NOW = datetime(2024, 6, 15, 12, 0, 0)


def hand_built_shop(conn):
    """The shop in this module's docstring; returns {letter: customer id}."""
    with db.transaction(conn):
        ids = {letter: customers.add(conn, f"Customer {letter}", email=f"{letter.lower()}@example.com",
                                     since="2024-01-01") for letter in "ABCDEF"}
        for letter, kind, at, amount, by in [
            ("A", "purchase", "2024-03-10T10:00:00", "100.00", "Joy"),
            ("A", "purchase", "2024-04-05T10:00:00", "50.00", "Joy"),
            ("A", "purchase", "2024-05-20T10:00:00", "30.00", "Sam"),
            ("A", "purchase", "2024-05-20T15:00:00", "20.00", "Sam"),
            ("A", "refund", "2024-05-25T11:00:00", "10.00", "Joy"),
            ("B", "purchase", "2024-04-10T10:00:00", "200.00", "Joy"),
            ("B", "purchase", "2024-06-01", "40.00", None),
            ("C", "purchase", "2024-05-02T09:30:00", "60.00", "Sam"),
            ("D", "purchase", "2024-03-01T12:00:00", "25.00", None),
            ("D", "call", "2024-06-05T12:00:00", None, "Joy"),
            ("F", "purchase", "2024-04-20T10:00:00", "10.00", "Marco"),
            ("F", "purchase", "2024-04-28T10:00:00", "15.00", "Marco"),
        ]:
            interactions.add(conn, ids[letter], kind, at=at, amount=amount, by=by)
        for letter, kind, at, rating, by, resolved in [
            ("A", "complaint", "2024-04-03T10:00:00", 2, "Joy", "2024-04-05T10:00:00"),
            ("B", "complaint", "2024-04-28T09:00:00", None, "Joy", "2024-05-01T09:00:00"),
            ("C", "complaint", "2024-05-10", 1, "Sam", "2024-05-11T00:00:00"),
            ("F", "complaint", "2024-06-02T10:00:00", None, "Sam", None),
            ("A", "compliment", "2024-04-10T16:00:00", 5, "Joy", None),
            ("B", "compliment", "2024-05-15T16:00:00", 4, "Sam", None),
            ("C", "compliment", "2024-05-16T16:00:00", None, "Marco", None),
            ("D", "suggestion", "2024-06-03T16:00:00", 3, None, None),
        ]:
            feedback.add(conn, ids[letter], kind, rating=rating, by=by, at=at, resolved_at=resolved)
    return ids


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    hand_built_shop(conn)
    return conn


HIATUS_GAPS = 3  # README "Too little history": lapsed when silent longer than 3 usual gaps


# Who is lapsed at each month end, worked by hand (too few repeat buyers for a model, so the churn
# report shows history and counts a customer lapsed when silent for longer than 3 usual gaps): (days
# silent, usual gap) per customer. One-time buyers get the median usual gap of the repeat buyers (90
# days when there are none).
BY_HAND = {
    # 03-31: A (03-10) and D (03-01) bought once; nobody twice -> gap 90; hiatus 270.
    date(2024, 3, 31): {"A": (21, 90), "D": (30, 90)},
    # 04-30: A gap 26 silent 25; F gap 8 silent 2; median gap 17 for B (silent 20) and D (silent 60 > 51).
    date(2024, 4, 30): {"A": (25, 26), "B": (20, 17), "D": (60, 17), "F": (2, 8)},
    # 05-31: A gap 35.5 silent 11 (back); F silent 33 > 24; median gap (35.5 + 8) / 2 = 21.75 (hiatus
    # 65.25) for B (51), C (29) and D (91 > 65.25).
    date(2024, 5, 31): {"A": (11, 35.5), "B": (51, 21.75), "C": (29, 21.75), "D": (91, 21.75), "F": (33, 8)},
    # 06-15: A silent 26 of 35.5; B gap 52 silent 14 (back); F silent 48 > 24; median gap 35.5 (hiatus
    # 106.5) for C (44) and D (106: just inside, so D is no longer counted lapsed).
    date(2024, 6, 15): {"A": (26, 35.5), "B": (14, 52), "C": (44, 35.5), "D": (106, 35.5), "F": (48, 8)},
}
LOST_BY_HAND = {date(2024, 3, 31): set(), date(2024, 4, 30): {"D"}, date(2024, 5, 31): {"D", "F"},
                date(2024, 6, 15): {"F"}}


def test_customers_lost_by_hand(crm, conn, monkeypatch):
    """Who is lost at each month end, worked by hand, against what crm computes: `crm report churn
    --as-of D` (its model, overdue order and lapsed sentence per customer) and the summary's
    lost_customers. Lost in April: D (1); in May: F (1); in June: nobody new, as EXPECTED says."""
    from crmcli.analytics.summary import lost_customers

    freeze(monkeypatch, NOW)
    ids = hand_built_shop(conn)
    letter_of = {str(number): letter for letter, number in ids.items()}
    for day, customers_then in BY_HAND.items():
        assert {letter for letter, (silent, gap) in customers_then.items()
                if silent > HIATUS_GAPS * gap} == LOST_BY_HAND[day]
        result = crm("report", "churn", "--as-of", day.isoformat(), "--limit", "0", "--format", "csv")
        assert result.exit_code == 0, result.stderr
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert {row["model"] for row in rows} == {"history"} and {row["p_alive"] for row in rows} == {""}
        # Ranked by days silent over the usual gap, largest first.
        overdue = [customers_then[letter_of[row["customer_id"]]] for row in rows]
        assert [silent / gap for silent, gap in overdue] == sorted((s / g for s, g in overdue), reverse=True)
        lapsed = {letter_of[row["customer_id"]] for row in rows if "counted lapsed" in row["why"]}
        assert lapsed == LOST_BY_HAND[day], day
        assert lost_customers(conn, day) == {ids[letter] for letter in LOST_BY_HAND[day]}, day


# Every metric, computed by hand from the shop above (see the module docstring).
EXPECTED = {
    "2024-04": {
        "new_customers": 2,  # B, F
        "active_customers": 3,  # A, B, F
        "customers_lost": 1,  # D (test_customers_lost_by_hand)
        "retention_rate": 0.5,  # March buyers A, D; A came back
        "repeat_purchase_rate": 0.6667,  # A (first bought in March) and F (second day in April) of 3
        "revenue": Decimal("275.00"),  # 50 + 200 + 10 + 15
        "top20_revenue_share": 0.7273,  # top 1 of 3 buyers: B 200 / 275
        "complaints_opened": 2,
        "complaints_resolved": 1,  # A's
        "median_resolution_days": 2.0,
        "compliments_per_complaint": 0.5,
        "average_rating": 3.5,  # 2 and 5
    },
    "2024-05": {
        "new_customers": 1,  # C
        "active_customers": 2,  # A, C
        "customers_lost": 1,  # F
        "retention_rate": 0.3333,  # of A, B, F only A
        "repeat_purchase_rate": 0.5,  # A yes, C (first purchase) no
        "revenue": Decimal("100.00"),  # 30 + 20 - 10 + 60
        "top20_revenue_share": 0.6,  # C 60 of 100 (A's net is 40)
        "complaints_opened": 1,
        "complaints_resolved": 2,  # B's (3.0 days), C's (1.0 day)
        "median_resolution_days": 2.0,
        "compliments_per_complaint": 2.0,
        "average_rating": 2.5,  # 1 and 4 (C's compliment has no rating)
    },
    "2024-06": {
        "new_customers": 0,
        "active_customers": 1,  # B
        "customers_lost": 0,  # F again, no one new
        "retention_rate": 0.0,  # of A, C nobody
        "repeat_purchase_rate": 1.0,
        "revenue": Decimal("40.00"),
        "top20_revenue_share": 1.0,
        "complaints_opened": 1,
        "complaints_resolved": 0,
        "median_resolution_days": None,
        "compliments_per_complaint": 0.0,
        "average_rating": 3.0,
    },
}


def test_every_metric_by_hand(shop):
    rows = metrics.summary(shop, period="month", count=3, as_of=date(2024, 6, 15))
    found = {}
    for row in rows:
        found.setdefault(row["period"], {})[row["metric"]] = row["value"]
    assert found == EXPECTED
    assert [m.name for m in metrics.METRICS] == list(EXPECTED["2024-04"])
    spans = {(r["period"], r["period_start"], r["period_end"], r["complete"]) for r in rows}
    assert spans == {("2024-04", "2024-04-01", "2024-04-30", True), ("2024-05", "2024-05-01", "2024-05-31", True),
                     ("2024-06", "2024-06-01", "2024-06-15", False)}


def test_as_of_cuts_the_data(shop):
    """As of 05-25 the refund of that day counts and May is to date; June's events do not exist yet."""
    rows = metrics.summary(shop, period="month", count=1, as_of=date(2024, 5, 25), include_lost=False)
    may = {r["metric"]: r["value"] for r in rows}
    assert may["revenue"] == Decimal("100.00") and may["active_customers"] == 2
    rows = metrics.summary(shop, period="month", count=1, as_of=date(2024, 5, 24), include_lost=False)
    assert {r["metric"]: r["value"] for r in rows}["revenue"] == Decimal("110.00")
    assert rows[0]["period_end"] == "2024-05-24" and rows[0]["complete"] is False


def test_quarter_and_year(shop):
    rows = metrics.summary(shop, period="quarter", count=2, as_of=date(2024, 6, 30), include_lost=False)
    by = {(r["period"], r["metric"]): r["value"] for r in rows}
    assert by[("2024-Q1", "revenue")] == Decimal("125.00") and by[("2024-Q1", "new_customers")] == 2
    assert by[("2024-Q2", "revenue")] == Decimal("415.00")
    assert by[("2024-Q2", "new_customers")] == 3  # B, C, F
    assert by[("2024-Q2", "retention_rate")] == 0.5  # A and D bought in Q1; A came back, D did not
    assert {r["complete"] for r in rows if r["period"] == "2024-Q2"} == {True}  # 06-30 is the quarter's last day
    year = metrics.summary(shop, period="year", count=1, as_of=date(2024, 6, 15), include_lost=False)
    assert {r["metric"]: r["value"] for r in year}["revenue"] == Decimal("540.00")
    assert year[0]["period"] == "2024" and year[0]["period_end"] == "2024-06-15"


@pytest.mark.sqlite_only("reads SQLite's query plans (EXPLAIN QUERY PLAN); a server plans by its own statistics")
def test_a_period_s_purchases_are_read_from_the_index_alone(shop):
    """Each period's purchases come from interactions_type_at_customer (type, at, customer_id, amount_cents): a
    lookup in the table per purchase cost 0.2 s a month at 100,000 customers (migrations.M011)."""
    window = {"start": "2024-05-01", "stop": "2024-05-31~", "prev_start": "2024-04-01", "prev_stop": "2024-04-30~"}
    for query in (metrics._PERIOD_MONEY, metrics._RETENTION):
        plan = " ".join(row[3] for row in shop.execute("EXPLAIN QUERY PLAN " + query, window))
        assert "USING COVERING INDEX interactions_type_at_customer (type=? AND at>? AND at<?)" in plan


def test_periods_cross_the_year_boundary():
    labels = [p.label for p in metrics.periods("month", 3, date(2024, 1, 31))]
    assert labels == ["2023-11", "2023-12", "2024-01"]
    assert [p.label for p in metrics.periods("quarter", 2, date(2024, 2, 1))] == ["2023-Q4", "2024-Q1"]
    assert metrics.last_complete("month", date(2024, 1, 31)).label == "2024-01"
    assert metrics.last_complete("month", date(2024, 1, 30)).label == "2023-12"
    assert metrics.last_complete("year", date(2024, 12, 31)).label == "2024"


def rows_of(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_cli_tidy_csv(shop, crm):
    result = crm("report", "summary", "--periods", "3", "--format", "csv")
    assert result.stdout.splitlines()[0] == ",".join(metrics.SUMMARY_COLUMNS)
    rows = rows_of(result)
    assert len(rows) == 3 * len(metrics.METRICS)  # one row per period and metric, no totals
    assert len({(r["period"], r["metric"]) for r in rows}) == len(rows)
    by = {(r["period"], r["metric"]): r for r in rows}
    assert by[("2024-04", "revenue")]["value"] == "275.00"
    assert by[("2024-04", "retention_rate")]["value"] == "0.5"
    assert by[("2024-06", "median_resolution_days")]["value"] == ""
    assert by[("2024-05", "customers_lost")]["value"] == "1"
    assert by[("2024-06", "revenue")]["complete"] == "false" and by[("2024-05", "revenue")]["complete"] == "true"
    assert {r["target"] for r in rows} == {""} and {r["target_met"] for r in rows} == {""}


def test_cli_json_numbers(shop, crm):
    result = crm("report", "summary", "--periods", "2", "--format", "json")
    rows = json.loads(result.stdout)
    may = {r["metric"]: r["value"] for r in rows if r["period"] == "2024-05"}
    assert may["revenue"] == 100.0 and may["top20_revenue_share"] == 0.6 and may["new_customers"] == 1
    assert set(rows[0]) == set(metrics.SUMMARY_COLUMNS)


def test_cli_table_has_periods_targets_and_trends(shop, crm):
    with_targets = crm("target", "set", "revenue", "150")
    assert with_targets.exit_code == 0
    result = crm("report", "summary", "--periods", "3", "--format", "table")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "2024-04" in out and "2024-05" in out and "2024-06*" in out
    assert "revenue from top 20%" in out and "72.7%" in out
    assert "≥ 150.00" in out
    assert "100.00 ✗" in out  # May missed the revenue target
    assert "275.00 ✗" not in out and "40.00 ✗" not in out  # met, and June is not judged yet
    revenue_line = next(line for line in out.splitlines() if line.startswith("revenue "))
    assert "█▁" in revenue_line  # trend of the complete months: 275 high, 100 low


def test_sparkline():
    assert summary_table.sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert summary_table.sparkline([5, 5]) == "▄▄"
    assert summary_table.sparkline([None, 0, 10]) == " ▁█"
    assert summary_table.sparkline([None]) == ""


def test_targets_beside_the_actuals(shop, crm):
    for metric, value in [("new_customers", "2"), ("retention_rate", "30%"), ("median_resolution_days", "2"),
                          ("revenue", "100")]:
        assert crm("target", "set", metric, value).exit_code == 0
    rows = rows_of(crm("report", "summary", "--periods", "3", "--format", "csv"))
    by = {(r["period"], r["metric"]): r for r in rows}
    assert (by[("2024-04", "new_customers")]["target"], by[("2024-04", "new_customers")]["target_met"]) == ("2", "true")
    assert by[("2024-05", "new_customers")]["target_met"] == "false"
    assert by[("2024-05", "retention_rate")]["target"] == "0.3"
    assert by[("2024-05", "retention_rate")]["target_met"] == "true"  # 0.3333 >= 0.3
    assert by[("2024-05", "median_resolution_days")]["target_met"] == "true"  # at most 2: 2.0
    assert by[("2024-05", "revenue")]["target_met"] == "true"  # exactly 100.00
    assert by[("2024-06", "revenue")]["target_met"] == ""  # June is still running
    assert by[("2024-04", "active_customers")]["target"] == ""  # no target can be set for it


def test_a_missed_target_stores_no_fit_either(shop, crm, isolated_database):
    """--check exiting 4 leaves the database as it was, even on the first summary, which fits the models
    at each period end (stored only when the command exits 0); a summary that exits 0 stores them."""
    crm("target", "set", "retention_rate", "0.5")  # May: 0.3333
    with unchanged(isolated_database):
        missed = crm("report", "summary", "--check", "--format", "csv")
    assert missed.exit_code == 4, missed.stderr
    with unchanged(isolated_database):
        missed = crm("report", "summary", "--check", "--format", "csv")
    assert crm("report", "summary", "--format", "csv").exit_code == 0
    assert db.connect(isolated_database).execute("SELECT count(*) FROM model_fits").fetchone()[0] > 0


def test_check_exits_4_when_a_target_of_the_last_complete_period_was_missed(shop, crm, isolated_database):
    crm("target", "set", "revenue", "100")
    crm("target", "set", "new_customers", "1")
    met = crm("report", "summary", "--check", "--format", "csv")
    assert met.exit_code == 0, met.stderr
    assert "met in 2024-05: 2 of 2" in met.stderr
    crm("target", "set", "retention_rate", "0.5")  # May: 0.3333
    crm("target", "set", "median_resolution_days", "1.5")  # May: 2.0
    with unchanged(isolated_database):
        missed = crm("report", "summary", "--check", "--format", "csv")
    assert missed.exit_code == targets.TARGET_MISSED_EXIT_CODE == 4
    assert "target missed in 2024-05: retention_rate 33.3%, target at least 50.0%" in missed.stderr
    assert "target missed in 2024-05: median_resolution_days 2.0, target at most 1.5" in missed.stderr
    assert "revenue" not in missed.stderr
    assert len(rows_of_any(missed)) == 6 * len(metrics.METRICS)  # the report is still written in full
    # As of the end of April, April is the last complete period: its retention (0.5) meets the target.
    april = crm("report", "summary", "--check", "--as-of", "2024-04-30", "--format", "csv")
    assert april.exit_code == 4 and "in 2024-04: median_resolution_days 2.0" in april.stderr
    assert "retention_rate" not in april.stderr


def rows_of_any(result):
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_check_only_judges_targets_of_the_period_asked_for(shop, crm):
    crm("target", "set", "revenue", "1000", "--per", "quarter")  # Q1 revenue 125.00: missed
    by_month = crm("report", "summary", "--check", "--format", "csv")
    assert by_month.exit_code == 0 and "no targets per month" in by_month.stderr
    by_quarter = crm("report", "summary", "--period", "quarter", "--check", "--format", "csv")
    assert by_quarter.exit_code == 4 and "target missed in 2024-Q1: revenue 125.00" in by_quarter.stderr


def test_check_does_not_judge_a_metric_without_a_value(conn, crm, monkeypatch):
    freeze(monkeypatch, NOW)
    crm("target", "set", "median_resolution_days", "1")
    result = crm("report", "summary", "--check", "--format", "csv")  # no complaints at all
    assert result.exit_code == 0
    assert "median_resolution_days has no value in 2024-05" in result.stderr


@pytest.mark.parametrize("args, fragments", [
    (["--periods", "0"], ["--periods"]),
    (["--periods", "121"], ["--periods"]),
    (["--period", "week"], ["--period"]),
])
def test_usage_errors(shop, crm, args, fragments):
    result = crm("report", "summary", *args)
    assert result.exit_code == 2
    for fragment in fragments:
        assert fragment in result.stderr


def test_bad_as_of(shop, crm, isolated_database):
    with unchanged(isolated_database):
        assert_error(crm("report", "summary", "--as-of", "2024-13-01"), 1, "as-of", "2024-13-01")


def test_empty_database(conn, crm, monkeypatch):
    freeze(monkeypatch, NOW)
    rows = rows_of(crm("report", "summary", "--periods", "2", "--format", "csv"))
    by = {(r["period"], r["metric"]): r["value"] for r in rows}
    assert by[("2024-06", "revenue")] == "0.00" and by[("2024-06", "customers_lost")] == "0"
    assert by[("2024-06", "retention_rate")] == "" and by[("2024-06", "average_rating")] == ""


def test_lost_matches_the_churn_report_on_the_demo(conn, monkeypatch):
    """customers_lost uses exactly the P(alive) of `crm report churn --as-of DAY`: fitted model included."""
    from crmcli import demo
    from crmcli.analytics import report
    from crmcli.analytics.summary import lost_customers, p_alive_as_of

    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=300, seed=5)
    for day in (date(2024, 3, 31), date(2024, 6, 15)):
        scores = report.score(conn, as_of=day)  # --model auto, the default of both
        assert scores.model in ("pareto", "pareto_limit", "bgnbd", "mbgnbd")  # a fitted model, the one auto chose
        ids, p_alive = p_alive_as_of(conn, day)
        assert ids.tolist() == scores.base.customer_id.tolist()
        assert p_alive.tolist() == scores.p_alive.tolist()
        by_report = {int(i) for i, p in zip(scores.base.customer_id, scores.p_alive, strict=True) if p < 0.5}
        assert lost_customers(conn, day) == by_report != set()


def test_the_summary_counts_every_period_end_with_the_model_auto_chose_at_the_last(conn, crm, monkeypatch):
    """With --model auto the choice is made once, at the latest day, and every earlier end is scored with
    that model (a switch of model between months must not show as customers lost); the fits made are
    stored after the report, so a second run fits nothing."""
    from crmcli import demo
    from crmcli.analytics import bgnbd, mbgnbd, pareto, report
    from crmcli.analytics.summary import lost_by_day, lost_customers

    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=300, seed=5)
    days = [date(2024, 3, 31), date(2024, 6, 15), date(2024, 4, 30)]
    chosen = report.score(conn, as_of=date(2024, 6, 15)).fits.scoring_model("auto")
    assert chosen in ("pareto", "bgnbd", "mbgnbd")
    made: list = []
    lost = lost_by_day(conn, days, made=made)
    assert set(lost) == set(days)
    for day in days:
        assert set(lost[day].tolist()) == lost_customers(conn, day, model=chosen), day
    assert {fit.model for fit in made if fit.as_of < date(2024, 6, 15)} <= {chosen, "population"}

    first = crm("report", "summary", "--periods", "3", "--format", "csv")
    assert first.exit_code == 0, first.stderr
    for module in (pareto, bgnbd, mbgnbd):
        monkeypatch.setattr(module, "fit", lambda *a, **k: pytest.fail("fitted again"))
    again = crm("report", "summary", "--periods", "3", "--format", "csv")
    assert again.exit_code == 0 and again.stdout == first.stdout


def test_every_metric_is_alive_on_the_demo(conn, crm, monkeypatch):
    from crmcli import demo

    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=1)
    rows = rows_of(crm("report", "summary", "--periods", "12", "--format", "csv"))
    complete = [r for r in rows if r["complete"] == "true"]
    for metric in metrics.METRICS:
        numbers = [float(r["value"]) for r in complete if r["metric"] == metric.name and r["value"]]
        assert numbers and max(numbers) > 0, metric.name
    # Demo targets: some met, some missed (and none judged where there is no value, e.g. nothing resolved).
    assert {r["target_met"] for r in complete if r["target"] and r["value"]} == {"true", "false"}
