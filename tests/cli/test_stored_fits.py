"""The stored fits through the commands: reports say which fit they used, are byte-identical from a stored
fit and a fresh one, never fail or wait because the fit cannot be stored; customer show scores from it."""

import csv
import io
import json
import time
from datetime import datetime

import pytest
from helpers import another_command_writing, freeze

from crmcli import db, demo

NOW = datetime(2026, 11, 22, 12, 0, 0)
CHURN = ("report", "churn", "--limit", "0", "--format", "csv")


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=4)
    return conn


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def test_a_report_from_the_stored_fit_is_byte_identical_to_the_fresh_one(crm, shop):
    fresh = ok(crm(*CHURN, "--model", "pareto"))
    assert "note: fitted the pareto model as of 2026-11-22 on" in fresh.stderr
    stored = ok(crm(*CHURN, "--model", "pareto"))
    assert "note: using the pareto fit of 2026-11-22 on" in stored.stderr and "--refit fits again" in stored.stderr
    refit = ok(crm(*CHURN, "--model", "pareto", "--refit"))
    assert "note: fitted the pareto model" in refit.stderr
    assert fresh.stdout_bytes == stored.stdout_bytes == refit.stdout_bytes
    assert len(fresh.stdout_bytes) > 1000


def test_the_stored_choice_gives_the_same_report_and_refit_chooses_again(crm, shop):
    fresh = ok(crm(*CHURN))  # --model auto, the default
    assert "note: chose " in fresh.stderr and ": lowest BIC (" in fresh.stderr
    assert "fitted the pareto, bgnbd, mbgnbd models as of 2026-11-22 on" in fresh.stderr
    stored = ok(crm(*CHURN))
    assert "using the fits as of 2026-11-22 on" in stored.stderr and "--refit fits again" in stored.stderr
    assert stored.stderr.split(";")[0] == fresh.stderr.split(";")[0]  # the same choice, said the same way
    refit = ok(crm(*CHURN, "--refit"))
    assert "fitted the pareto, bgnbd, mbgnbd models" in refit.stderr
    assert fresh.stdout_bytes == stored.stdout_bytes == refit.stdout_bytes


def test_report_model_says_which_fits_were_stored_and_reused(crm, shop):
    first = json.loads(ok(crm("report", "model", "--format", "json")).stdout)
    assert [row["model"] for row in first] == ["pareto", "bgnbd", "mbgnbd", "gamma_gamma"]
    assert [row["reused"] for row in first] == [False, False, False, False]
    assert {row["as_of"] for row in first} == {"2026-11-22"} and {row["fitted_at"] for row in first} == {
        "2026-11-22T12:00:00"}
    assert all(row["purchase_days"] > 0 and row["iterations"] > 0 for row in first)
    second = ok(crm("report", "model", "--format", "json"))
    assert [row["reused"] for row in json.loads(second.stdout)] == [True, True, True, True]
    assert "--refit fits again" in second.stderr
    keep = ("model", "params", "log_likelihood", "customers", "converged", "as_of", "bic", "chosen", "why")
    assert [{k: r[k] for k in keep} for r in json.loads(second.stdout)] == [{k: r[k] for k in keep} for r in first]
    refit = json.loads(ok(crm("report", "model", "--refit", "--format", "json")).stdout)
    assert not any(row["reused"] for row in refit)


def test_a_locked_database_still_reports_at_once_and_says_the_fit_was_not_kept(crm, shop, isolated_database):
    expected = ok(crm(*CHURN, "--model", "bgnbd", "--refit")).stdout_bytes
    shop.execute("DELETE FROM model_fits")
    with another_command_writing(isolated_database):
        started = time.perf_counter()
        result = ok(crm(*CHURN, "--model", "bgnbd"))
        assert time.perf_counter() - started < 8  # the write command's 10 s busy timeout is not waited for
    assert result.stdout_bytes == expected
    assert "note: the fit was not stored (another command was writing to the database)" in result.stderr
    assert shop.execute("SELECT count(*) FROM model_fits").fetchone()[0] == 0


def test_churn_with_follow_ups_stores_the_fit_after_its_own_transaction(crm, shop):
    result = ok(crm("report", "churn", "--follow-up", "2", "--format", "csv"))
    assert "scheduled" in result.stderr
    models = {row[0] for row in shop.execute("SELECT model FROM model_fits")}
    assert models == {"pareto", "bgnbd", "mbgnbd", "auto", "gamma_gamma", "population"}


def rows(result):
    return {row["customer_id"]: row for row in csv.DictReader(io.StringIO(ok(result).stdout))}


def test_customer_show_uses_the_stored_fit_and_says_what_report_best_says(crm, shop, monkeypatch):
    best = rows(crm("report", "best", "--limit", "0", "--format", "csv"))
    churn = rows(crm(*CHURN))
    from crmcli.analytics import report

    monkeypatch.setattr(report, "score", lambda *a, **k: pytest.fail("customer show refitted the whole base"))
    checked = 0
    for customer_id in list(best)[:40]:
        shown = json.loads(ok(crm("customer", "show", customer_id, "--format", "json")).stdout)["scores"]
        row = best[customer_id] if float(best[customer_id]["p_alive"]) > 0.5 else churn[customer_id]
        assert shown["why"] == row["why"], customer_id
        assert shown["predicted_clv"] == float(best[customer_id]["predicted_clv"])
        checked += 1
    assert checked == 40


def test_customer_show_without_a_stored_fit_fits_once_and_keeps_it(crm, shop):
    first = ok(crm("customer", "show", "1", "--format", "json"))
    assert "note: chose " in first.stderr and "fitted the pareto, bgnbd, mbgnbd models" in first.stderr
    assert {row[0] for row in shop.execute("SELECT model FROM model_fits")} == {
        "pareto", "bgnbd", "mbgnbd", "auto", "gamma_gamma", "population"}
    again = ok(crm("customer", "show", "1", "--format", "json"))
    assert "using the fits as of 2026-11-22" in again.stderr
    assert json.loads(again.stdout)["scores"] == json.loads(first.stdout)["scores"]
