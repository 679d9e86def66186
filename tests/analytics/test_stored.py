"""Stored fits (crmcli/analytics/stored.py, fitset.py): the reuse policy, storing outside the read
snapshot without ever failing a read, and scores from a stored fit equal to scores from a fresh one."""

import sqlite3
import time
from datetime import date, datetime, timedelta

import numpy as np
import pytest
from helpers import another_command_writing, freeze

from crmcli import db, demo, interactions
from crmcli.analytics import fitset, report, rows, stored
from crmcli.analytics.data import load

NOW = datetime(2026, 11, 22, 12, 0, 0)
DAY = NOW.date()


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=3)
    return conn


def fit_and_store(conn, day=DAY, model="pareto"):
    with db.snapshot(conn):
        s = report.score(conn, as_of=day, model=model)
    assert stored.save(conn, s.fits.fresh()) is None
    return s


def test_a_stored_fit_comes_back_exactly_and_is_reused(shop):
    first = fit_and_store(shop)
    assert first.fits.purchase is not None and not first.fits.purchase.reused
    records, last = shop.execute("SELECT count(*), max(at) FROM interactions WHERE type = 'purchase'").fetchone()
    assert (first.fits.purchase.seen.purchases, first.fits.purchase.seen.last_purchase) == (records, last)
    with db.snapshot(shop):
        again = report.score(shop, as_of=DAY, model="pareto")
    assert again.fits.purchase.reused and again.fits.spend.reused and again.fits.population.reused
    assert again.fits.fresh() == []
    assert again.fits.purchase.params == first.fits.purchase.params  # JSON keeps every float exactly
    assert again.fits.spend.params == first.fits.spend.params
    for name in ("p_alive", "expected_purchases", "predicted_clv", "value_if_active"):
        assert np.array_equal(getattr(again, name), getattr(first, name)), name
    assert "using the pareto fit of 2026-11-22 on" in again.notes[0] and "--refit" in again.notes[0]
    assert first.notes[0].startswith("fitted the pareto model as of 2026-11-22 on")


def test_refit_fits_again_and_replaces_the_day_s_fit(shop, monkeypatch):
    fit_and_store(shop)
    freeze(monkeypatch, NOW + timedelta(hours=1))
    with db.snapshot(shop):
        s = report.score(shop, as_of=DAY, refit=True)
    assert not s.fits.purchase.reused
    assert stored.save(shop, s.fits.fresh()) is None
    rows = shop.execute("SELECT model, fitted_at FROM model_fits WHERE model = 'pareto'").fetchall()
    assert [tuple(r) for r in rows] == [("pareto", "2026-11-22T13:00:00")]  # one per model and day


@pytest.mark.parametrize("days_later, reused", [(0, True), (stored.REUSE_DAYS, True), (stored.REUSE_DAYS + 1, False)])
def test_a_fit_is_reused_for_up_to_reuse_days_after_its_as_of_day(shop, days_later, reused):
    fit_and_store(shop, DAY)  # the demo's last purchases are on DAY: nothing changes after it
    found = stored.find(shop, "pareto", DAY + timedelta(days=days_later))
    assert (found is not None) == reused


def test_a_fit_of_a_later_day_is_never_used_for_an_earlier_one(shop):
    fit_and_store(shop, DAY)
    assert stored.find(shop, "pareto", DAY) is not None
    assert stored.find(shop, "pareto", DAY - timedelta(days=1)) is None


def test_purchases_added_since_count_against_the_fit(shop):
    fit = fit_and_store(shop).fits.purchase
    allowed = stored.most_changed(fit.seen.purchases) + 1  # the fewest that are 2% of its purchases or more
    assert allowed - 1 < stored.REUSE_CHANGE * fit.seen.purchases <= allowed
    customer = 1
    with db.transaction(shop):
        for _ in range(allowed - 1):
            interactions.add(shop, customer, "purchase", at="2026-11-22T10:00:00", amount="5")
    assert stored.changed_since(shop, fit, DAY) == allowed - 1
    assert stored.find(shop, "pareto", DAY) is not None
    with db.transaction(shop):
        # A late import of old history counts too, though dated before the fit's day.
        interactions.add(shop, customer, "purchase", at="2020-01-01", amount="5")
    assert stored.changed_since(shop, fit, DAY) == allowed
    assert stored.find(shop, "pareto", DAY) is None


def test_purchases_removed_since_count_against_the_fit_in_a_report_on_the_whole_base(shop):
    """An import undone or customers deleted: a report on the base must not go on with the fit of data that
    is gone (it did, for up to REUSE_DAYS, after the undo of a batch that had doubled the purchases)."""
    fit = fit_and_store(shop).fits.purchase
    allowed = stored.most_changed(fit.seen.purchases) + 1
    doomed = [row[0] for row in shop.execute(
        "SELECT id FROM interactions WHERE type = 'purchase' ORDER BY id LIMIT ?", (allowed - 1,))]
    with db.transaction(shop):
        shop.executemany("DELETE FROM interactions WHERE id = ?", [(i,) for i in doomed])
    with db.snapshot(shop):
        assert report.score(shop, as_of=DAY, model="pareto").fits.purchase.reused  # fewer than 2% gone
    with db.transaction(shop):
        shop.execute("DELETE FROM interactions WHERE id = (SELECT min(id) FROM interactions WHERE type = 'purchase')")
    with db.snapshot(shop):
        again = report.score(shop, as_of=DAY, model="pareto")
    assert not again.fits.purchase.reused
    assert again.fits.purchase.seen.purchases == fit.seen.purchases - allowed


def test_purchases_dated_after_the_fit_s_day_count_for_a_later_day(shop):
    fit = fit_and_store(shop, DAY - timedelta(days=3)).fits.purchase
    later = shop.execute("SELECT count(*) FROM interactions WHERE type = 'purchase' AND at >= ? AND at < ?",
                         ((DAY - timedelta(days=2)).isoformat(), DAY.isoformat() + "~")).fetchone()[0]
    assert stored.changed_since(shop, fit, DAY, cap=10**9) == later


def test_another_crm_version_s_fit_is_not_reused(shop, monkeypatch):
    fit_and_store(shop)
    monkeypatch.setattr(stored, "crm_version", lambda: "99.0")
    assert stored.find(shop, "pareto", DAY) is None


def test_save_refuses_to_run_inside_a_snapshot(shop):
    with db.snapshot(shop):
        s = report.score(shop, as_of=DAY)
        with pytest.raises(RuntimeError, match="outside"):
            stored.save(shop, s.fits.fresh())


def test_a_locked_database_is_a_note_at_once_not_a_wait_or_an_error(shop, isolated_database, backend):
    with db.snapshot(shop):
        s = report.score(shop, as_of=DAY)
    with another_command_writing(isolated_database):
        started = time.perf_counter()
        why = stored.save(shop, s.fits.fresh())
        assert time.perf_counter() - started < 2.0  # not the 10 s busy timeout of a write command
    assert why == "the fit was not stored (another command was writing to the database); the next report fits again"
    assert shop.execute("SELECT count(*) FROM model_fits").fetchone()[0] == 0
    if backend == "sqlite":  # a server's lock_timeout is SET LOCAL: it ends with the transaction
        assert shop.execute("PRAGMA busy_timeout").fetchone()[0] == db.BUSY_TIMEOUT_SECONDS * 1000  # put back
    assert not shop.in_transaction


def read_only(database):
    """A connection that can read and not write: SQLite's mode=ro; a server session whose transactions are
    all read-only (as a user granted SELECT alone, or a hot standby, gives)."""
    if str(database).startswith("postgresql://"):
        joined = "&" if "?" in database else "?"
        return db.connect(f"{database}{joined}options=-c%20default_transaction_read_only%3Don", create=False)
    return sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, isolation_level=None)


def test_a_read_only_connection_scores_and_cannot_store(shop, isolated_database):
    reader = read_only(isolated_database)
    try:
        with db.snapshot(reader):
            s = report.score(reader, as_of=DAY)
        why = stored.save(reader, s.fits.fresh())
    finally:
        reader.close()
    assert why is not None and "read-only" in why
    assert s.fits.choice is not None and s.model == s.fits.choice.params["chosen"] and len(s.p_alive) > 0


def test_one_customer_from_stored_fits_equals_the_whole_base(shop, monkeypatch):
    """customer_scores' one-customer path (stored fits, the customer's own purchases by index) gives
    every customer exactly the row of the whole-base scores, RFM and why included; with the default
    --model auto, the stored choice picks the same model."""
    whole = fit_and_store(shop, model="auto")
    fits = fitset.for_customer(shop, "auto", DAY)
    assert fits is not None and all(fit.reused for fit in fits.all())
    assert fits.choice is not None and fits.choice.params["chosen"] == whole.model
    monkeypatch.setattr(report, "score", lambda *a, **k: pytest.fail("the whole base was scored"))
    by_id = {int(c): i for i, c in enumerate(whole.base.customer_id)}
    for customer_id, i in by_id.items():
        one = report.customer_scores(shop, customer_id, as_of=DAY)
        assert one is not None
        expected = next(rows.rows(shop, whole, [i], lambda r: report.why_best(r, 365)
                                     if r["churn_risk"] < 0.5 else report.why_churn(r)))
        assert one["why"] == expected["why"], customer_id
        assert one["rfm"] == f"{expected['recency_score']}{expected['frequency_score']}{expected['monetary_score']}"
        assert (one["p_alive"], one["predicted_clv"], one["segment"], one["model"]) == (
            expected["p_alive"], expected["predicted_clv"], expected["segment"], whole.model)


def test_one_customer_without_a_stored_fit_scores_the_whole_base_once(shop):
    assert fitset.for_customer(shop, "auto", DAY) is None
    with db.snapshot(shop):
        first = report.customer_scores(shop, 1, as_of=DAY)
    # Every candidate of --model auto and the choice, the spend model and the population figures.
    assert first is not None and {fit.model for fit in first.fits.fresh()} == {
        "pareto", "bgnbd", "mbgnbd", "auto", "gamma_gamma", "population"}
    assert stored.save(shop, first.fits.fresh()) is None
    again = report.customer_scores(shop, 1, as_of=DAY)
    assert again == first and again.fits.fresh() == []


def test_history_for_one_customer_uses_the_base_s_stored_usual_gap(conn, monkeypatch):
    """Too little history for a model: one customer's why (lapsed or not) uses the whole base's median gap
    for a one-time buyer, stored with the fits, and is the churn report's or the best report's sentence."""
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=12, seed=5)
    whole = fit_and_store(conn)
    assert whole.model == "history" and whole.fits.purchase is None
    churn = {row["customer_id"]: row["why"] for row in report.churn_rows(conn, whole, limit=None)}
    best = {row["customer_id"]: row["why"] for row in report.best_rows(conn, whole, limit=None)}
    base = load(conn, DAY)
    for customer_id in base.customer_id.tolist():
        one = report.customer_scores(conn, customer_id, as_of=DAY)
        assert one is not None and one.fits.fresh() == []
        assert one["model"] == "history" and one["p_alive"] is None and one["predicted_clv"] is None
        assert one["why"] == (churn[customer_id] if "counted lapsed" in churn[customer_id] else best[customer_id])


def test_population_figures_survive_json(shop):
    fit_and_store(shop)
    population = stored.find(shop, stored.POPULATION, DAY)
    assert population is not None
    assert set(population.params) == {"can_fit", "spend_can_fit", "median_gap_days", "average_purchase", "rfm"}
    assert all(len(population.params["rfm"][name]) == 4 for name in ("recency", "frequency", "monetary"))
    assert population.as_of == date(2026, 11, 22)


@pytest.mark.sqlite_only("reads SQLite's query plans (EXPLAIN QUERY PLAN); a server plans by its own statistics")
def test_the_change_check_reads_index_ranges_not_every_purchase(shop):
    """changed_since must cost milliseconds at 100,000 customers: each of its queries is a range."""
    fit = fit_and_store(shop).fits.purchase
    plans = []
    original = shop.execute

    class Spy:
        def execute(self, query, params=()):
            plans.append(" ".join(row[3] for row in original("EXPLAIN QUERY PLAN " + query, params)))
            return original(query, params)

    stored.changed_since(Spy(), fit, DAY)
    assert len(plans) == 2
    assert "interactions_type_at_customer (type=? AND at>? AND at<?)" in plans[0]
    assert "INTEGER PRIMARY KEY (rowid>?)" in plans[1]


def test_report_summary_s_lost_customers_reuse_the_stored_fit_like_the_churn_report(shop, monkeypatch):
    from crmcli.analytics import bgnbd, mbgnbd, pareto, summary

    whole = fit_and_store(shop, model="auto")  # the summary's model is the default, auto
    for module in (pareto, bgnbd, mbgnbd):
        monkeypatch.setattr(module, "fit", lambda *a, **k: pytest.fail("fitted again"))
    ids, p_alive = summary.p_alive_as_of(shop, DAY)
    assert ids.tolist() == whole.base.customer_id.tolist() and p_alive.tolist() == whole.p_alive.tolist()
