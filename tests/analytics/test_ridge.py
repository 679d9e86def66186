"""ridge.py: when Pareto/NBD's fit is taken to be running off along s, beta -> infinity, and its budget."""

import functools

import _simulate as sim
import numpy as np
import pytest

from crmcli.analytics import pareto, ridge
from crmcli.analytics.fitting import FitResult


def limit_fit(log_likelihood=-100.0, converged=True):
    return FitResult(model="pareto_limit", params={"r": 1.0, "alpha": 10.0, "mu": 0.01},
                     log_likelihood=log_likelihood, customers=10, repeat_customers=5, converged=converged,
                     message="converged")


def flat(value):
    return lambda params: (value, np.zeros(4))


def test_running_off_along_a_steady_ratio_with_no_gain_is_the_ridge():
    watch = ridge.RidgeWatch(limit_fit)
    watched = watch.watch(flat(-101.0))
    watched({"s": 10.0, "beta": 1000.0})
    watched({"s": 15.0, "beta": 1480.0})
    with pytest.raises(ridge.OnRidge):
        watched({"s": 21.0, "beta": 2090.0})   # s >= 20, rising, s/beta within 10%


@pytest.mark.parametrize("trail", [
    [(10.0, 1000.0), (15.0, 1480.0), (19.0, 1900.0)],      # s still below 20
    [(10.0, 1000.0), (25.0, 2480.0), (24.0, 2400.0)],      # s not rising
    [(10.0, 1000.0), (15.0, 1000.0), (21.0, 1000.0)],      # s/beta not steady
])
def test_not_the_ridge(trail):
    watch = ridge.RidgeWatch(limit_fit)
    watched = watch.watch(flat(-101.0))
    for s, beta in trail:
        watched({"s": s, "beta": beta})


def test_a_four_parameter_fit_that_beats_the_limit_carries_on():
    watch = ridge.RidgeWatch(functools.partial(limit_fit, -100.0))
    watched = watch.watch(flat(-100.0 + 1.36))   # better than the limit by more than the tolerance
    for s, beta in [(10.0, 1000.0), (15.0, 1480.0), (21.0, 2090.0), (40.0, 4000.0)]:
        watched({"s": s, "beta": beta})
    assert watch.limit_is_as_good(-100.0 + 1.34) and not watch.limit_is_as_good(-100.0 + 1.36)


def test_an_unconverged_limit_is_never_taken():
    watch = ridge.RidgeWatch(functools.partial(limit_fit, -100.0, False))
    assert not watch.limit_is_as_good(-1000.0)


def test_the_limit_is_fitted_once_and_only_when_needed():
    calls = []

    def counted():
        calls.append(1)
        return limit_fit()

    watch = ridge.RidgeWatch(counted)
    watched = watch.watch(flat(-101.0))
    watched({"s": 1.0, "beta": 10.0})
    assert calls == []
    watch.limit_is_as_good(-50.0)
    watch.limit_is_as_good(-60.0)
    assert calls == [1]


def test_budget_in_evaluations():
    watch = ridge.RidgeWatch(limit_fit, budget=3)
    watched = watch.watch(flat(-101.0))
    for s in (1.0, 2.0, 3.0):
        watched({"r": 1.0, "alpha": 1.0, "s": s, "beta": 10.0})
    with pytest.raises(ridge.OutOfBudget):
        watched({"r": 1.0, "alpha": 1.0, "s": 4.0, "beta": 10.0})
    result = watch.out_of_budget("pareto", ("r", "alpha", "s", "beta"), 10, 5)
    assert not result.converged and result.message == "no maximum within 3 likelihood evaluations"
    assert result.params == {"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 10.0}   # the first: all were -101


def test_pareto_fit_out_of_budget_says_so(monkeypatch):
    # Heterogeneous drop-out (an interior maximum far better than the limit) and a budget too small to reach it.
    monkeypatch.setattr(ridge, "WORK_BUDGET", 20.0)  # 4 or 5 evaluations of about 4 each
    rng = np.random.default_rng(9)
    T = sim.observation_lengths(rng, 3_000)
    x, t_x = sim.pareto(rng, T.size, 0.55, 10.5, 0.6, 11.7, T)
    fit = pareto.fit(x, t_x, T)
    assert not fit.converged and fit.message.startswith("no maximum within the work budget of 20 ("), fit
    assert set(fit.params) == {"r", "alpha", "s", "beta"} and np.isfinite(fit.log_likelihood)


def test_an_evaluation_s_work_is_the_terms_its_series_need():
    times = np.array([0.0, 100.0, 1000.0])
    assert pareto.evaluation_work(50.0, 50.0, times) == 1.0  # z = 0: the shortest series
    # alpha 10, beta 1000: z = 0.99 (quadrature, 10), 0.9 (10 times the terms), 0.495 (about 2).
    expected = (10.0 + 10.0 + 1.0 / (1.0 - 990.0 / 2000.0)) / 3
    assert pareto.evaluation_work(10.0, 1000.0, times) == pytest.approx(expected)


def test_the_budget_weighs_dear_evaluations():
    watch = ridge.RidgeWatch(limit_fit, budget=10.0, work=lambda p: p["beta"] / 100.0)
    watched = watch.watch(flat(-101.0))
    watched({"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 100.0})      # 1
    watched({"r": 1.0, "alpha": 1.0, "s": 2.0, "beta": 800.0})      # 8: 9 spent
    with pytest.raises(ridge.OutOfBudget):
        watched({"r": 1.0, "alpha": 1.0, "s": 3.0, "beta": 200.0})  # 2 more would pass 10
    assert watch.evaluations == 2 and watch.spent == 9.0
