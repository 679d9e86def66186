"""What every fit shares: input checks, compression, honest convergence."""

import dataclasses

import _simulate as sim
import numpy as np
import pytest

from crmcli.analytics import bgnbd, fitting, gamma_gamma, pareto


def test_fit_result_fields():
    names = [f.name for f in dataclasses.fields(fitting.FitResult)]
    assert names == ["model", "params", "log_likelihood", "customers", "repeat_customers", "converged", "message",
                     "iterations"]


def test_a_fit_counts_its_iterations():
    x, t_x, T = np.array([0, 2, 5, 1] * 10), np.array([0, 30, 80, 10] * 10), np.array([100, 90, 120, 60] * 10)
    fit = bgnbd.fit(x, t_x, T)
    assert fit.iterations > 0


def test_compress_sums_weights_per_distinct_row():
    (x, t), w = fitting.compress((np.array([1, 0, 1, 1]), np.array([5, 0, 5, 6])), np.array([1.0, 2.0, 3.0, 0.0]))
    assert x.tolist() == [0, 1] and t.tolist() == [0, 5] and w.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("module", [bgnbd, pareto])
def test_no_repeat_buyers_is_not_reported_as_converged(module):
    fit = module.fit(np.zeros(500), np.zeros(500), np.linspace(10, 700, 500))
    assert not fit.converged
    assert fit.message == "no repeat purchases: nothing to fit"
    assert fit.customers == 500 and fit.repeat_customers == 0


def test_spend_without_heterogeneity_is_not_reported_as_converged():
    # Everyone spends exactly the same: the likelihood rises for ever as p, q and
    # gamma grow together, and the optimiser stops somewhere on the way.
    fit = gamma_gamma.fit(np.full(300, 3.0), np.full(300, 25.0))
    assert not fit.converged
    assert fit.message != "converged"


def quadratic(curvatures, slope=0.0):
    """A fake total log-likelihood in log-parameters: a peak at 0 with the given curvatures."""
    curvatures = np.asarray(curvatures, float)

    def total_and_gradient(params):
        at = np.log(list(params.values()))
        return (float(-0.5 * np.sum(curvatures * at ** 2) + slope * at[0]),
                -curvatures * at + np.r_[slope, np.zeros(len(at) - 1)])

    return total_and_gradient


def test_a_proper_peak_is_converged():
    fit = fitting.maximize_likelihood("test", ["u", "v"], quadratic([100.0, 40.0]), [{"u": 3.0, "v": 0.5}], 100, 50)
    assert fit.converged and fit.message == "converged"
    assert fit.params == pytest.approx({"u": 1.0, "v": 1.0}, rel=1e-5)


def test_a_flat_direction_is_not_converged():
    # Curvature 0.01 in v: its standard error is 10 on the log scale.
    fit = fitting.maximize_likelihood("test", ["u", "v"], quadratic([100.0, 0.01]), [{"u": 3.0, "v": 1.5}], 100, 50)
    assert not fit.converged
    assert "flat" in fit.message


def test_stopping_on_a_slope_is_not_converged():
    # A likelihood that keeps rising: the optimiser runs into its box.
    fit = fitting.maximize_likelihood("test", ["u", "v"], quadratic([0.0, 40.0], slope=5.0),
                                      [{"u": 1.0, "v": 1.0}], 100, 50)
    assert not fit.converged
    assert fit.message.startswith("parameter(s) ran off")


def test_penalizer():
    rng = np.random.default_rng(2)
    T = sim.observation_lengths(rng, 3000)
    x, t_x = sim.bgnbd(rng, 3000, 0.25, 4.0, 0.8, 2.5, T)
    plain = bgnbd.fit(x, t_x, T)
    shrunk = bgnbd.fit(x, t_x, T, penalizer=0.01)
    assert shrunk.converged
    # The penalty pulls log-parameters towards 0, i.e. parameters towards 1.
    assert sum(np.log(v) ** 2 for v in shrunk.params.values()) < sum(np.log(v) ** 2 for v in plain.params.values())
    assert shrunk.log_likelihood < plain.log_likelihood
    with pytest.raises(ValueError):
        bgnbd.fit(x, t_x, T, penalizer=-1.0)


@pytest.mark.parametrize("x, t_x, T", [([1], [50], [40]), ([-1], [0], [10]), ([1], [np.nan], [10]), ([1], [-1], [10])])
def test_impossible_histories_are_rejected(x, t_x, T):
    for module in (bgnbd, pareto):
        with pytest.raises(ValueError):
            module.fit(x, t_x, T)
        with pytest.raises(ValueError):
            module.p_alive({"r": 1, "alpha": 1, "a": 1, "b": 1, "s": 1, "beta": 1}, x, t_x, T)


def test_t_x_of_one_time_buyers_is_ignored():
    params = {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}
    assert pareto.p_alive(params, 0, 25, 30) == pareto.p_alive(params, 0, 0, 30)


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="missing"):
        bgnbd.p_alive({"r": 1, "alpha": 1, "a": 1}, 1, 1, 2)
    with pytest.raises(ValueError, match="positive"):
        pareto.p_alive({"r": 1, "alpha": -1, "s": 1, "beta": 1}, 1, 1, 2)


# (x, t_x, T) of the 33 buyers of `crm demo --customers 60 --seed 6` as of 2025-05-05 (the demo's
# clock at 2026-03-01). BG/NBD's a and b run off together here (every customer the same drop-out
# probability after a purchase): the likelihood is flat along a = b on the log scale.
FLAT_RIDGE = [
    (0, 0, 13), (0, 0, 26), (0, 0, 61), (0, 0, 62), (0, 0, 117), (0, 0, 132), (0, 0, 179), (0, 0, 190),
    (0, 0, 243), (0, 0, 411), (0, 0, 523), (1, 19, 464), (1, 20, 315), (1, 20, 416), (1, 32, 47), (1, 53, 531),
    (1, 62, 346), (1, 83, 334), (2, 37, 37), (2, 44, 113), (2, 92, 158), (2, 173, 286), (2, 268, 412),
    (2, 528, 591), (2, 605, 613), (3, 165, 270), (3, 231, 231), (4, 95, 342), (4, 122, 194), (7, 510, 518),
    (10, 106, 576), (10, 516, 517), (13, 241, 517),
]


def test_a_flat_ridge_is_not_converged_despite_rounding_noise_in_the_gradient():
    # The gradient carries rounding noise near 1e-6 out there (a, b in the tens of thousands);
    # forward differences with a step of 1e-5 turned it into a curvature of -0.1, and this fit
    # was reported converged.
    x, t_x, T = np.array(FLAT_RIDGE, dtype=float).T
    fit = bgnbd.fit(x, t_x, T)
    assert not fit.converged
    assert "flat" in fit.message
    # Flat indeed: the log-likelihood's own second difference along a = b, with a step of 0.03.
    log_params = np.log(list(fit.params.values()))
    ridge = np.array([0.0, 0.0, 1.0, 1.0]) * 0.03

    def total(at):
        return bgnbd.log_likelihood(dict(zip(fit.params, np.exp(at), strict=True)), x, t_x, T).sum()

    curvature = (total(log_params + ridge) - 2 * total(log_params) + total(log_params - ridge)) / 0.03 ** 2
    assert abs(curvature) < 1e-2   # a standard error of at least 10 on the log scale


def rough(calls):
    """A fake log-likelihood with noise, and a gradient that is noise: L-BFGS-B's line search fails on it,
    and Nelder-Mead, never seeing the same value twice, would spend its 3,000 evaluations."""
    rng = np.random.default_rng(0)

    def total_and_gradient(params):
        calls.append(1)
        at = np.log(list(params.values()))
        return float(-0.5 * np.sum(at ** 2) + 1e-3 * rng.standard_normal()), 1e3 * rng.standard_normal(len(at))

    return total_and_gradient


@pytest.mark.parametrize("budget", [30, fitting.EVALUATION_BUDGET])
def test_a_fit_stops_within_its_budget_of_evaluations(budget):
    calls: list[int] = []
    fit = fitting.maximize_likelihood("test", ["u", "v", "w"], rough(calls), [{"u": 3.0, "v": 0.5, "w": 2.0}] * 2,
                                      100, 50, budget=budget)
    assert not fit.converged
    assert fit.message == f"the optimiser did not converge: no maximum within {budget} likelihood evaluations"
    # The budget, then the final look at the point (its value, and 2 gradients per parameter for the curvature).
    assert len(calls) <= budget + 1
    assert np.isfinite(fit.log_likelihood)


def test_the_budget_keeps_the_best_point_seen():
    calls: list[int] = []
    start = {"u": 3.0, "v": 0.5, "w": 2.0}
    fit = fitting.maximize_likelihood("test", ["u", "v", "w"], rough(calls), [start], 100, 50, budget=40)
    # The start's log-likelihood is -0.5 (log 3^2 + log 2^2 + log 0.5^2) = -1.03, give or take the noise.
    assert fit.log_likelihood > -0.9


def test_a_real_fit_out_of_budget_says_so(monkeypatch):
    rng = np.random.default_rng(3)
    T = sim.observation_lengths(rng, 2000)
    x, t_x = sim.bgnbd(rng, 2000, 0.25, 4.0, 0.8, 2.5, T)
    real = fitting.maximize_likelihood
    monkeypatch.setattr(bgnbd, "maximize_likelihood", lambda *a, **k: real(*a, **k, budget=5))
    fit = bgnbd.fit(x, t_x, T)
    assert not fit.converged and "no maximum within 5 likelihood evaluations" in fit.message
    monkeypatch.undo()
    assert bgnbd.fit(x, t_x, T).converged  # the default budget is plenty for the same data


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distinct_rows_is_np_unique_by_rows(seed):
    """The hand-written lexsort gives np.unique(axis=0)'s rows, in its order, and its inverse."""
    from crmcli.analytics.fitting import distinct_rows

    rng = np.random.default_rng(seed)
    n = 5_000
    x = rng.integers(0, 6, n).astype(float)
    t_x = np.where(x > 0, rng.integers(0, 40, n), 0).astype(float)
    T = t_x + rng.integers(0, 3, n)
    T[::7] += 0.5  # not only whole numbers
    columns, inverse = distinct_rows([x, t_x, T])
    unique, expected_inverse = np.unique(np.column_stack([x, t_x, T]), axis=0, return_inverse=True)
    assert len(columns[0]) < n  # ties, merged
    for i, column in enumerate(columns):
        np.testing.assert_array_equal(column, unique[:, i])
    np.testing.assert_array_equal(inverse, np.ravel(expected_inverse))
    np.testing.assert_array_equal(np.column_stack(columns)[inverse], np.column_stack([x, t_x, T]))
    empty, nothing = distinct_rows([np.zeros(0), np.zeros(0)])
    assert [len(c) for c in empty] == [0, 0] and len(nothing) == 0
