"""The published CDNOW fits, reproduced from the published data, on every run.

The data: Fader & Hardie's CDNOW sample, 6,919 purchases of 2,357 customers who first bought in
the first quarter of 1997 (tests/data/CDNOW_sample.txt; its source in tests/data/README.md). The
papers fit the 39-week calibration period, 1997-01-01 to 1997-09-30, with time in weeks; crmcli
works in days, so its rate parameters (alpha, and Pareto/NBD's beta) are 7 times the papers' and
r, a, b, s are the same. Gamma-Gamma is about money and has no time unit.

Published estimates, to the digits the papers give:
- BG/NBD: Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative to
  the Pareto/NBD model", Marketing Science 24(2): r = 0.243, alpha = 4.414, a = 0.793,
  b = 2.426, log-likelihood -9582.4 (and -9595.0 for the Pareto/NBD).
- Pareto/NBD: Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer base
  analysis", Journal of Marketing Research 42(4): r = 0.55, alpha = 10.58, s = 0.61,
  beta = 11.67; Gamma-Gamma: p = 6.25, q = 3.74, gamma = 15.44.

The tolerance is the literature's own: each estimate must round to the published figure (within
half a unit of its last digit). A log-likelihood in days differs from one in weeks by
sum(x) * log(7) (each repeat purchase time is a density in the time unit), converted here.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from crmcli.analytics import bgnbd, gamma_gamma, pareto

DATA = Path(__file__).resolve().parents[1] / "data" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)  # 39 weeks from 1997-01-01; purchases on this day count
DAYS_PER_WEEK = 7.0

# name: (published value, decimals published, unit): unit "rate" scales with time (days = 7 x weeks).
PUBLISHED = {
    "bgnbd": {"r": (0.243, 3, ""), "alpha": (4.414, 3, "rate"), "a": (0.793, 3, ""), "b": (2.426, 3, "")},
    "pareto": {"r": (0.55, 2, ""), "alpha": (10.58, 2, "rate"), "s": (0.61, 2, ""), "beta": (11.67, 2, "rate")},
    "gamma_gamma": {"p": (6.25, 2, ""), "q": (3.74, 2, ""), "gamma": (15.44, 2, "")},
}
PUBLISHED_LOG_LIKELIHOOD_WEEKS = {"bgnbd": -9582.4, "pareto": -9595.0}


def read_sample() -> list[tuple[int, date, float]]:
    """(sample customer id, day, amount) per line of the published file."""
    rows = []
    for line in DATA.read_text(encoding="ascii").splitlines():
        _master_id, customer, day, _cds, amount = line.split()
        rows.append((int(customer), date(int(day[:4]), int(day[4:6]), int(day[6:])), float(amount)))
    return rows


@pytest.fixture(scope="module")
def calibration():
    """x, t_x, T (days) and m (mean repeat-day spend) per customer as of CALIBRATION_END, computed
    here from the published log, independently of crmcli's loader: a transaction is a day."""
    spent: dict[int, dict[date, float]] = defaultdict(lambda: defaultdict(float))
    for customer, day, amount in read_sample():
        if day <= CALIBRATION_END:
            spent[customer][day] += amount
    ids = sorted(spent)
    x, t_x, T, m = (np.zeros(len(ids)) for _ in range(4))
    for i, customer in enumerate(ids):
        days = sorted(spent[customer])
        x[i] = len(days) - 1
        t_x[i] = (days[-1] - days[0]).days
        T[i] = (CALIBRATION_END - days[0]).days
        m[i] = np.mean([spent[customer][d] for d in days[1:]]) if len(days) > 1 else 0.0
    return x, t_x, T, m


def in_weeks(params: dict, model: str) -> dict:
    units = {name: unit for name, (_, _, unit) in PUBLISHED[model].items()}
    return {name: value / DAYS_PER_WEEK if units[name] == "rate" else value for name, value in params.items()}


def assert_published(params_in_days: dict, model: str) -> None:
    found = in_weeks(params_in_days, model)
    for name, (published, decimals, _) in PUBLISHED[model].items():
        # Rounds to the published figure: the literature's own precision (plus float noise).
        assert abs(found[name] - published) <= 0.5 * 10.0 ** -decimals + 1e-9, (model, name, found[name], published)


def test_the_file_is_the_published_sample(calibration):
    rows = read_sample()
    assert len(rows) == 6919
    assert len({customer for customer, _, _ in rows}) == 2357
    assert min(day for _, day, _ in rows) == date(1997, 1, 1) and max(day for _, day, _ in rows) == date(1998, 6, 30)
    x, _, T, _ = calibration
    assert len(x) == 2357  # everyone's first purchase is in the calibration period (the first quarter)
    assert T.min() >= (CALIBRATION_END - date(1997, 3, 31)).days and T.max() == 272  # 38.86 weeks
    assert int((x > 0).sum()) == 946 and int((x == 0).sum()) == 1411  # the papers' 1,411 with no repeat


@pytest.mark.parametrize("model, module", [("bgnbd", bgnbd), ("pareto", pareto)])
def test_published_estimates(calibration, model, module):
    x, t_x, T, _ = calibration
    fit = module.fit(x, t_x, T)
    assert fit.converged, fit.message
    assert_published(fit.params, model)
    in_weeks_log_likelihood = fit.log_likelihood + x.sum() * math.log(DAYS_PER_WEEK)
    assert in_weeks_log_likelihood == pytest.approx(PUBLISHED_LOG_LIKELIHOOD_WEEKS[model], abs=0.05)


def test_published_gamma_gamma_estimates(calibration):
    x, _, _, m = calibration
    repeat = x > 0
    fit = gamma_gamma.fit(x[repeat], m[repeat])
    assert fit.converged, fit.message
    assert_published(fit.params, "gamma_gamma")


def test_crm_gives_the_published_estimates_from_its_own_database(crm, tmp_path):
    """End to end: the published log imported with `crm interaction import`, then `crm report model
    --as-of 1997-09-30` (crmcli's own loader and definitions) gives the published estimates."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["customer_external_id", "customer_name", "type", "at", "amount"])
    for customer, day, amount in read_sample():
        writer.writerow([f"CDNOW-{customer}", f"CDNOW customer {customer}", "purchase", day.isoformat(),
                         f"{amount:.2f}"])
    source = tmp_path / "cdnow.csv"
    source.write_text(buffer.getvalue(), encoding="utf-8")
    imported = crm("interaction", "import", source, "--create-missing")
    assert imported.exit_code == 0, imported.stderr
    assert "6919 added" in imported.stderr and "2357 new customers" in imported.stderr

    result = crm("report", "model", "--as-of", CALIBRATION_END.isoformat(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    fits = {row["model"]: row for row in json.loads(result.stdout)}
    assert set(fits) == set(PUBLISHED) | {"mbgnbd"}  # MBG/NBD: every candidate of --model auto is shown
    for model, row in fits.items():
        assert row["converged"] and row["time_unit"] == "day", row
        if model in PUBLISHED:
            assert_published(row["params"], model)
    # MBG/NBD's CDNOW estimates as BTYDplus gives them (test_mbgnbd.py), end to end.
    weekly = dict(fits["mbgnbd"]["params"], alpha=fits["mbgnbd"]["params"]["alpha"] / DAYS_PER_WEEK)
    assert all(abs(weekly[name] - value) <= 0.0005 for name, value in
               {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}.items()), weekly
    assert fits["bgnbd"]["customers"] == 2357 and fits["bgnbd"]["repeat_customers"] == 946
