"""--model auto and --model mbgnbd through the commands: the model column names the model used, the stored
choice is what later commands score with, and customer show agrees with the reports."""

import csv
import io
import json
from datetime import datetime

import pytest
from helpers import freeze

from crmcli import db, demo

NOW = datetime(2026, 11, 22, 12, 0, 0)


@pytest.fixture
def shop(conn, monkeypatch):
    freeze(monkeypatch, NOW)
    with db.transaction(conn):
        demo.fill(conn, count=200, seed=4)
    return conn


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def csv_rows(result):
    return list(csv.DictReader(io.StringIO(ok(result).stdout)))


def chosen(crm):
    models = json.loads(ok(crm("report", "model", "--format", "json")).stdout)
    return [m for m in models if m["chosen"] == "yes"]


def test_every_row_names_the_model_auto_chose_and_customer_show_says_the_same(crm, shop):
    winner = chosen(crm)
    assert len(winner) == 1
    churn = csv_rows(crm("report", "churn", "--limit", "0", "--format", "csv"))
    best = csv_rows(crm("report", "best", "--limit", "0", "--format", "csv"))
    assert {r["model"] for r in churn} == {r["model"] for r in best} == {winner[0]["model"]}
    shown = json.loads(ok(crm("customer", "show", churn[0]["customer_id"], "--format", "json")).stdout)["scores"]
    assert shown["model"] == winner[0]["model"] and shown["why"] == churn[0]["why"]


def test_mbgnbd_by_name(crm, shop):
    result = crm("report", "churn", "--model", "mbgnbd", "--limit", "0", "--format", "csv")
    rows = csv_rows(result)
    assert rows and {r["model"] for r in rows} == {"mbgnbd"}
    assert "note: fitted the mbgnbd model as of 2026-11-22" in result.stderr
    # MBG/NBD lets a one-time buyer leave: a long silence lowers P(alive), unlike BG/NBD's 1.
    once = [r for r in rows if r["purchases"] == "1" and int(r["days_since_last_purchase"]) > 365]
    assert once and all(float(r["p_alive"]) < 1.0 for r in once)
    again = ok(crm("report", "best", "--model", "mbgnbd", "--format", "csv"))
    assert "using the mbgnbd fit of 2026-11-22" in again.stderr


def test_the_limit_fit_is_named_pareto_limit(crm, shop, monkeypatch):
    """When Pareto/NBD's fit ends on its homogeneous drop-out limit, the rows and report model say
    pareto_limit, not pareto (the fit is forced onto the limit here: the demo's data do not go there)."""
    from dataclasses import replace

    from crmcli.analytics import pareto, pareto_limit

    # As ridge.RidgeWatch.as_limit returns it: the limit's fit under Pareto/NBD's name.
    monkeypatch.setattr(pareto, "fit", lambda x, t_x, T, **k: replace(pareto_limit.fit(x, t_x, T), model="pareto"))
    rows = csv_rows(crm("report", "churn", "--model", "pareto", "--limit", "0", "--format", "csv"))
    assert {r["model"] for r in rows} == {"pareto_limit"}
    models = json.loads(ok(crm("report", "model", "--format", "json")).stdout)
    limit = next(m for m in models if m["model"] == "pareto_limit")
    assert set(limit["params"]) == {"r", "alpha", "mu"}


def test_refit_chooses_again_and_the_choice_is_stored_once_per_day(crm, shop):
    ok(crm("report", "churn", "--format", "csv"))
    first = shop.execute("SELECT params, fitted_at FROM model_fits WHERE model = 'auto'").fetchall()
    assert len(first) == 1 and json.loads(first[0][0])["chosen"] in ("pareto", "bgnbd", "mbgnbd")
    ok(crm("report", "churn", "--format", "csv", "--refit"))
    again = shop.execute("SELECT params FROM model_fits WHERE model = 'auto'").fetchall()
    assert len(again) == 1 and json.loads(again[0][0]) == json.loads(first[0][0])  # same data, same choice



def test_the_choice_compares_fits_of_one_base_only(crm, shop):
    """A stored BG/NBD fit of two days earlier may serve `--model bgnbd`, but auto does not compare it with
    fits of today's base: it fits all three candidates on today's."""
    ok(crm("report", "churn", "--model", "bgnbd", "--as-of", "2026-11-20", "--format", "csv"))
    result = ok(crm("report", "churn", "--format", "csv"))
    assert "fitted the pareto, bgnbd, mbgnbd models as of 2026-11-22" in result.stderr
    days = {(model, as_of) for model, as_of in shop.execute("SELECT model, as_of FROM model_fits")}
    assert {("bgnbd", "2026-11-20"), ("bgnbd", "2026-11-22"), ("pareto", "2026-11-22"), ("mbgnbd", "2026-11-22"),
            ("auto", "2026-11-22")} <= days


def test_when_no_candidate_converges_the_reports_say_so_and_fall_back(crm, shop, monkeypatch):
    from crmcli.analytics import bgnbd, fitting, mbgnbd, pareto

    for module, names in ((pareto, pareto.PARAM_NAMES), (bgnbd, bgnbd.PARAM_NAMES), (mbgnbd, mbgnbd.PARAM_NAMES)):
        monkeypatch.setattr(module, "fit", lambda x, t_x, T, names=names, **k: fitting.no_fit(
            "x", names, len(x), int((x > 0).sum()), "the optimiser did not converge: stopped"))
    result = crm("report", "churn", "--limit", "0", "--format", "csv")
    rows = csv_rows(result)
    assert rows and {r["model"] for r in rows} == {"history"}
    assert "none of the candidate models converged (pareto: the optimiser did not converge: stopped;" in result.stderr
    models = json.loads(ok(crm("report", "model", "--format", "json")).stdout)
    assert [(m["chosen"], m["bic"]) for m in models[:3]] == [("no", None)] * 3
    assert all(m["why"].startswith("not a candidate: did not converge") for m in models[:3])
