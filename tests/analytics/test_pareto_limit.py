"""Pareto/NBD's homogeneous drop-out limit (pareto_limit.py) against numerical integration of its
story, the four-parameter Pareto/NBD at huge beta, simulation, and parameter recovery."""

import math

import _simulate as sim
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import gammaln

from crmcli.analytics import pareto, pareto_limit
from crmcli.analytics.fitting import compress

PARAMS = {"r": 0.55, "alpha": 10.5, "mu": 0.004}
CASES = [(0, 0, 40), (2, 30, 40), (2.5, 30, 40), (5, 12.5, 100), (1, 3, 3), (0, 0, 0), (12, 300, 365), (3, 100, 700)]


def gamma_density(lam, r, alpha):
    return math.exp(r * math.log(alpha) + (r - 1) * math.log(lam) - alpha * lam - gammaln(r))


def by_integration(r, alpha, mu, x, t_x, T, alive_only=False):
    """The individual-level likelihood with lambda and mu fixed (alive at T, or died at some tau in
    (t_x, T]: lambda^x / (lambda+mu) [mu e^-(lambda+mu) t_x + lambda e^-(lambda+mu) T], in closed form
    for fixed rates), integrated numerically against lambda ~ Gamma(r, alpha)."""
    def individual(lam):
        alive = lam ** x * math.exp(-(lam + mu) * T)
        if alive_only:
            return alive
        died = lam ** x * mu / (lam + mu) * (math.exp(-(lam + mu) * t_x) - math.exp(-(lam + mu) * T))
        return alive + died
    def integrand(lam):
        return individual(lam) * gamma_density(lam, r, alpha)

    middle = (r + x) / (alpha + T)   # about where the integrand peaks: split there
    return sum(quad(integrand, low, high, epsabs=0, epsrel=1e-12, limit=400)[0]
               for low, high in ((0, middle), (middle, np.inf)))


@pytest.mark.parametrize("x, t_x, T", CASES)
def test_log_likelihood_against_numerical_integration(x, t_x, T):
    expected = math.log(by_integration(*PARAMS.values(), x, t_x, T))
    assert pareto_limit.log_likelihood(PARAMS, x, t_x, T) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("x, t_x, T", CASES)
def test_p_alive_against_numerical_integration(x, t_x, T):
    expected = by_integration(*PARAMS.values(), x, t_x, T, alive_only=True) / by_integration(
        *PARAMS.values(), x, t_x, T)
    assert pareto_limit.p_alive(PARAMS, x, t_x, T) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("x, t_x, T", CASES)
def test_is_the_limit_of_pareto_nbd(x, t_x, T):
    # Pareto/NBD with s = mu beta approaches the limit like 1/beta (the gamma's mean is mu, its
    # variance mu/beta): 1e6 and 1e7, extrapolated (Richardson), agree with it to about 1e-9.
    def four_parameter(beta):
        params = {"r": PARAMS["r"], "alpha": PARAMS["alpha"], "s": PARAMS["mu"] * beta, "beta": beta}
        return float(pareto.log_likelihood(params, x, t_x, T)), float(pareto.p_alive(params, x, t_x, T))

    (ll6, alive6), (ll7, alive7) = four_parameter(1e6), four_parameter(1e7)
    limit = float(pareto_limit.log_likelihood(PARAMS, x, t_x, T))
    assert ll7 + (ll7 - ll6) / 9 == pytest.approx(limit, rel=1e-9, abs=1e-9)
    assert abs(ll7 - limit) <= max(0.2 * abs(ll6 - limit), 1e-12)   # it does converge, like 1/beta
    assert alive7 + (alive7 - alive6) / 9 == pytest.approx(float(pareto_limit.p_alive(PARAMS, x, t_x, T)), rel=1e-7)


def test_gradient_against_finite_differences(monkeypatch):
    captured = {}
    real = pareto_limit.maximize_likelihood

    def capture(model, names, total_and_gradient, *args, **kwargs):
        captured["f"] = total_and_gradient
        return real(model, names, total_and_gradient, *args, **kwargs)

    monkeypatch.setattr(pareto_limit, "maximize_likelihood", capture)
    rng = np.random.default_rng(3)
    T = sim.observation_lengths(rng, 400)
    x, t_x = sim.pareto_limit(rng, 400, 0.8, 20.0, 0.003, T)
    pareto_limit.fit(x, np.floor(t_x), T)
    point = {"r": 0.7, "alpha": 8.0, "mu": 0.0025}
    total, gradient = captured["f"](point)
    assert total == pytest.approx(pareto_limit.log_likelihood(point, x, np.floor(t_x), T).sum(), rel=1e-12)
    for i, name in enumerate(point):
        up, down = dict(point), dict(point)
        up[name] *= math.exp(1e-6)
        down[name] *= math.exp(-1e-6)
        numeric = (captured["f"](up)[0] - captured["f"](down)[0]) / 2e-6   # d/d log(param)
        assert gradient[i] == pytest.approx(numeric, rel=1e-5, abs=1e-4)


def simulate_with_future(rng, n, r, alpha, mu, T, t):
    """(x, t_x, alive at T, purchases in (T, T+t]) from the model's story."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    life = rng.exponential(1.0 / mu, n)
    alive_for = np.minimum(life, T)
    x = rng.poisson(lam * alive_for)
    t_x = sim._time_of_kth_arrival(rng, x, x, alive_for)
    future = rng.poisson(lam * np.clip(life - T, 0.0, t))
    return x.astype(float), t_x, life > T, future


def within(predicted, observed, spread, n, sigmas=4.0):
    """|mean predicted - mean observed| within `sigmas` standard errors of the observed mean."""
    return abs(np.mean(predicted) - np.mean(observed)) <= sigmas * spread / math.sqrt(n)


def test_p_alive_and_expectation_calibrated_by_simulation():
    # The model's own P(alive) and E[Y(t) | history] must average to the simulated share alive and
    # purchases in each group of customers by x (the law of total expectation), within 4 standard errors.
    rng = np.random.default_rng(11)
    params = {"r": 1.2, "alpha": 30.0, "mu": 0.004}
    T = np.full(100_000, 365.0)
    x, t_x, alive, future = simulate_with_future(rng, T.size, *params.values(), T, 180.0)
    p = pareto_limit.p_alive(params, x, t_x, T)
    expected = pareto_limit.expected_purchases(params, 180.0, x, t_x, T)
    for group in (x == 0, x == 1, (x >= 2) & (x < 6), x >= 6):
        n = int(group.sum())
        assert within(p[group], alive[group], np.std(alive[group]), n)
        assert within(expected[group], future[group], np.std(future[group]), n)


def test_unconditional_expectation_by_simulation():
    rng = np.random.default_rng(5)
    params = {"r": 1.2, "alpha": 30.0, "mu": 0.004}
    n, t = 200_000, 365.0
    _, _, _, purchases = simulate_with_future(rng, n, *params.values(), np.zeros(n), t)
    assert within(pareto_limit.expected_purchases_new(params, t), purchases, np.std(purchases), n)
    assert pareto_limit.expected_purchases_new(params, np.array([0.0, 1e9])) == pytest.approx(
        [0.0, params["r"] / params["alpha"] / params["mu"]])


def standard_errors(params, x, t_x, T):
    """Standard errors of the log-parameters from the observed information (numerical Hessian)."""
    names = list(params)
    log_p = np.log([params[n] for n in names])
    (x, t_x, T), weights = compress((x, t_x, T), np.ones(len(x)))

    def total(at):
        point = dict(zip(names, np.exp(at), strict=True))
        return float(np.sum(weights * pareto_limit.log_likelihood(point, x, t_x, T)))

    h = 1e-3
    hessian = np.empty((3, 3))
    for i in range(3):
        for j in range(3):
            e_i, e_j = np.eye(3)[i] * h, np.eye(3)[j] * h
            hessian[i, j] = (total(log_p + e_i + e_j) - total(log_p + e_i - e_j)
                             - total(log_p - e_i + e_j) + total(log_p - e_i - e_j)) / (4 * h * h)
    return np.sqrt(np.diag(np.linalg.inv(-hessian)))


def test_parameter_recovery():
    # 20,000 simulated customers: each estimate within 4 of its standard errors (from the observed
    # information at the estimate) of the truth; on one seed that fails by chance about 1 in 5,000.
    rng = np.random.default_rng(2024)
    truth = {"r": 0.9, "alpha": 25.0, "mu": 0.002}
    T = sim.observation_lengths(rng, 20_000)
    x, t_x = sim.pareto_limit(rng, T.size, *truth.values(), T)
    t_x = np.floor(t_x)   # whole days, as crm counts them (and fewer distinct days to compute for)
    fit = pareto_limit.fit(x, t_x, T)
    assert fit.converged, fit.message
    se = standard_errors(fit.params, x, t_x, T)
    assert np.all(se < 0.2)   # the sample pins them down: 20% or better
    for name, error in zip(truth, se, strict=True):
        assert abs(math.log(fit.params[name] / truth[name])) <= 4 * error, (name, fit.params, se)


def test_pareto_fit_names_the_limit_on_homogeneous_drop_out(monkeypatch):
    # Data with one drop-out rate for everyone (and observed late, like a shop that reports months
    # after its last sale): Pareto/NBD's fit runs off along s, beta -> infinity, is recognised within a
    # bounded number of evaluations, and is the limit model's fit, named by its parameters.
    evaluations = 0
    real = pareto.maximize_likelihood

    def counting(model, names, total_and_gradient, *args, **kwargs):
        def counted(params):
            nonlocal evaluations
            evaluations += 1
            return total_and_gradient(params)
        return real(model, names, counted, *args, **kwargs)

    monkeypatch.setattr(pareto, "maximize_likelihood", counting)
    rng = np.random.default_rng(8)
    truth = {"r": 1.5, "alpha": 30.0, "mu": 0.003}
    T = sim.observation_lengths(rng, 20_000)
    x, t_x = sim.pareto_limit(rng, T.size, *truth.values(), T)
    T = T + 335.0
    fit = pareto.fit(x, np.floor(t_x), T)
    assert fit.converged and fit.model == "pareto" and pareto.model_name(fit.params) == "pareto_limit"
    assert evaluations <= 30
    alone = pareto_limit.fit(x, np.floor(t_x), T)
    assert fit.params == pytest.approx(alone.params) and fit.log_likelihood == pytest.approx(alone.log_likelihood)
    for name in truth:
        assert fit.params[name] == pytest.approx(truth[name], rel=0.2)
    # Every function of pareto takes the limit's parameters.
    assert pareto.p_alive(fit.params, x[:5], np.floor(t_x[:5]), T[:5]) == pytest.approx(
        pareto_limit.p_alive(fit.params, x[:5], np.floor(t_x[:5]), T[:5]))
    assert pareto.expected_purchases(fit.params, 30.0, x[:5], np.floor(t_x[:5]), T[:5]).shape == (5,)


def test_pareto_fit_keeps_four_parameters_when_drop_out_rates_differ():
    rng = np.random.default_rng(9)
    T = sim.observation_lengths(rng, 5_000)
    x, t_x = sim.pareto(rng, T.size, 0.55, 10.5, 0.6, 11.7, T)
    fit = pareto.fit(x, t_x, T)
    assert fit.converged and not pareto.is_limit(fit.params), fit
