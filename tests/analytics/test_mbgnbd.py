"""MBG/NBD (mbgnbd.py) against the paper's formulas by hand, numerical integration of its story,
simulation, parameter recovery, and the CDNOW estimates other implementations publish."""

import math

import _simulate as sim
import numpy as np
import pytest
from scipy.integrate import dblquad
from test_published_cdnow import DAYS_PER_WEEK, calibration  # noqa: F401 (a fixture)

from crmcli.analytics import bgnbd, mbgnbd
from crmcli.analytics.fitting import compress

PARAMS = {"r": 0.525, "alpha": 43.28, "a": 0.891, "b": 1.614}
CASES = [(0, 0, 40), (2, 30, 40), (5, 12.5, 100), (1, 3, 3), (0, 0, 0), (12, 300, 365)]


def beta_fn(a, b):
    return math.gamma(a) * math.gamma(b) / math.gamma(a + b)


def likelihood_by_hand(r, alpha, a, b, x, t_x, T):
    """Batislam, Denizel & Filiztekin (2007), the MBG/NBD likelihood as printed."""
    return (beta_fn(a, b + x + 1) / beta_fn(a, b) * math.gamma(r + x) * alpha ** r / math.gamma(r)
            * ((alpha + T) ** -(r + x) + a / (b + x) * (alpha + t_x) ** -(r + x)))


def p_alive_by_hand(r, alpha, a, b, x, t_x, T):
    return 1 / (1 + a / (b + x) * ((alpha + T) / (alpha + t_x)) ** (r + x))


@pytest.mark.parametrize("x, t_x, T", CASES)
def test_log_likelihood_equals_hand_computation(x, t_x, T):
    expected = math.log(likelihood_by_hand(*PARAMS.values(), x, t_x, T))
    assert mbgnbd.log_likelihood(PARAMS, x, t_x, T) == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("x, t_x, T", [(0, 0, 40), (2, 30, 40), (1, 3, 3)])
def test_log_likelihood_against_integration_of_the_story(x, t_x, T):
    # Individual level: still active after x+1 chances to leave, or left right after the x-th
    # repeat purchase (x = 0: right after the first purchase), integrated over lambda and p.
    r, alpha, a, b = PARAMS.values()

    def density(lam, p):
        gamma_pdf = math.exp(r * math.log(alpha) + (r - 1) * math.log(lam) - alpha * lam - math.lgamma(r))
        beta_pdf = p ** (a - 1) * (1 - p) ** (b - 1) / beta_fn(a, b)
        story = ((1 - p) ** (x + 1) * lam ** x * math.exp(-lam * T)
                 + p * (1 - p) ** x * lam ** x * math.exp(-lam * t_x))
        return story * gamma_pdf * beta_pdf

    # dblquad integrates func(y, x): y = lambda (inner), x = p (outer)
    value = dblquad(density, 0, 1, 0, np.inf, epsabs=0, epsrel=1e-10)[0]
    assert mbgnbd.log_likelihood(PARAMS, x, t_x, T) == pytest.approx(math.log(value), rel=1e-7)


@pytest.mark.parametrize("x, t_x, T", CASES)
def test_p_alive_equals_hand_computation(x, t_x, T):
    assert mbgnbd.p_alive(PARAMS, x, t_x, T) == pytest.approx(p_alive_by_hand(*PARAMS.values(), x, t_x, T), rel=1e-12)


def test_one_time_buyers_are_not_certainly_alive():
    # BG/NBD's blind spot: P(alive) = 1 for every x == 0 customer. MBG/NBD's falls with silence.
    T = np.array([0.0, 30.0, 180.0, 720.0])
    alive = mbgnbd.p_alive(PARAMS, 0, 0, T)
    assert alive[0] == pytest.approx(PARAMS["b"] / (PARAMS["a"] + PARAMS["b"]))
    assert np.all(np.diff(alive) < 0)
    bg = {"r": PARAMS["r"], "alpha": PARAMS["alpha"], "a": PARAMS["a"], "b": PARAMS["b"]}
    assert np.all(bgnbd.p_alive(bg, 0, 0, T) == 1.0)


def test_gradient_against_finite_differences(monkeypatch):
    captured = {}
    real = mbgnbd.maximize_likelihood

    def capture(model, names, total_and_gradient, *args, **kwargs):
        captured["f"] = total_and_gradient
        return real(model, names, total_and_gradient, *args, **kwargs)

    monkeypatch.setattr(mbgnbd, "maximize_likelihood", capture)
    rng = np.random.default_rng(4)
    T = sim.observation_lengths(rng, 500)
    x, t_x = sim.mbgnbd(rng, 500, 0.8, 30.0, 1.2, 3.0, T)
    mbgnbd.fit(x, t_x, T)
    point = {"r": 0.7, "alpha": 25.0, "a": 0.9, "b": 2.5}
    total, gradient = captured["f"](point)
    assert total == pytest.approx(mbgnbd.log_likelihood(point, x, t_x, T).sum(), rel=1e-12)
    for i, name in enumerate(point):
        up, down = dict(point), dict(point)
        up[name] *= math.exp(1e-6)
        down[name] *= math.exp(-1e-6)
        numeric = (captured["f"](up)[0] - captured["f"](down)[0]) / 2e-6   # d/d log(param)
        assert gradient[i] == pytest.approx(numeric, rel=1e-5, abs=1e-4)


def simulate_with_future(rng, n, r, alpha, a, b, T, t):
    """(x, t_x, alive at T, purchases in (T, T+t]): she leaves with probability p after each
    purchase, the first one included, so she makes R = Geometric(p) - 1 repeat purchases at most."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    most = rng.geometric(p) - 1
    before, after = rng.poisson(lam * T), rng.poisson(lam * t)
    x = np.minimum(before, most)
    t_x = sim._time_of_kth_arrival(rng, x, before, T)
    alive = before < most   # she had not yet made her last repeat purchase (and left right after it)
    future = np.where(alive, np.minimum(after, most - before), 0)
    return x.astype(float), t_x, alive, future


def within(predicted, observed, n, sigmas=4.0):
    return abs(np.mean(predicted) - np.mean(observed)) <= sigmas * np.std(observed) / math.sqrt(n)


def test_p_alive_and_expectation_calibrated_by_simulation():
    # Averaged over customers with the same x, the model's P(alive) and E[Y(t) | history] must equal
    # the simulated share alive and purchases (law of total expectation), within 4 standard errors.
    rng = np.random.default_rng(12)
    params = {"r": 1.1, "alpha": 25.0, "a": 1.4, "b": 4.0}
    T = np.full(200_000, 300.0)
    x, t_x, alive, future = simulate_with_future(rng, T.size, *params.values(), T, 120.0)
    p = mbgnbd.p_alive(params, x, t_x, T)
    expected = mbgnbd.expected_purchases(params, 120.0, x, t_x, T)
    for group in (x == 0, x == 1, (x >= 2) & (x < 6), x >= 6):
        n = int(group.sum())
        assert within(p[group], alive[group], n)
        assert within(expected[group], future[group], n)


def test_unconditional_expectation_by_simulation():
    rng = np.random.default_rng(13)
    params = {"r": 1.1, "alpha": 25.0, "a": 1.4, "b": 4.0}
    n, t = 200_000, 365.0
    _, _, _, purchases = simulate_with_future(rng, n, *params.values(), np.zeros(n), t)
    assert within(mbgnbd.expected_purchases_new(params, t), purchases, n)
    # For ever: the mean number of repeat purchases before leaving, E[(1-p)/p] = b/(a-1), approached
    # like (alpha/t)^(a-1) (the bracket's 2F1 at z -> 1): within 2e-4 at t = 1e12 days.
    forever = params["b"] / (params["a"] - 1)
    assert mbgnbd.expected_purchases_new(params, 1e12) == pytest.approx(forever, rel=2e-4)
    assert mbgnbd.expected_purchases_new(params, 1e12) < forever


def standard_errors(params, x, t_x, T):
    """Standard errors of the log-parameters from the observed information (numerical Hessian)."""
    names = list(params)
    log_p = np.log([params[n] for n in names])
    (x, t_x, T), weights = compress((x, t_x, T), np.ones(len(x)))

    def total(at):
        point = dict(zip(names, np.exp(at), strict=True))
        return float(np.sum(weights * mbgnbd.log_likelihood(point, x, t_x, T)))

    h, k = 1e-3, len(names)
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            e_i, e_j = np.eye(k)[i] * h, np.eye(k)[j] * h
            hessian[i, j] = (total(log_p + e_i + e_j) - total(log_p + e_i - e_j)
                             - total(log_p - e_i + e_j) + total(log_p - e_i - e_j)) / (4 * h * h)
    return np.sqrt(np.diag(np.linalg.inv(-hessian)))


def test_parameter_recovery():
    # 20,000 simulated customers: each estimate within 4 of its standard errors (observed information)
    # of the truth; a chance failure on one seed is about 1 in 4,000.
    rng = np.random.default_rng(2025)
    truth = {"r": 0.8, "alpha": 30.0, "a": 1.2, "b": 3.0}
    T = sim.observation_lengths(rng, 20_000)
    x, t_x = sim.mbgnbd(rng, T.size, *truth.values(), T)
    t_x = np.floor(t_x)
    fit = mbgnbd.fit(x, t_x, T)
    assert fit.converged and fit.model == "mbgnbd", fit.message
    se = standard_errors(fit.params, x, t_x, T)
    assert np.all(se < 0.3)
    for name, error in zip(truth, se, strict=True):
        assert abs(math.log(fit.params[name] / truth[name])) <= 4 * error, (name, fit.params, se)


def test_no_repeat_purchases_is_no_fit():
    fit = mbgnbd.fit([0, 0, 0], [0, 0, 0], [10, 20, 30])
    assert not fit.converged and "no repeat purchases" in fit.message


# The CDNOW calibration period (39 weeks, 2,357 customers; see test_published_cdnow.py) as fitted by
# BTYDplus (Platzer) and checked against it by lifetimes: CamDavidsonPilon/lifetimes,
# tests/test_estimation.py, TestModifiedBetaGammaFitter.test_params_out_is_close_to_BTYDplus,
# r = 0.525, alpha = 6.183 (per week), a = 0.891, b = 1.614, to 3 decimals. Not a journal's figures:
# Batislam et al. fitted a Turkish grocery panel, not CDNOW.
BTYDPLUS_CDNOW = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}


def test_cdnow_estimates_of_btydplus(calibration):  # noqa: F811 (the fixture)
    x, t_x, T, _ = calibration
    fit = mbgnbd.fit(x, t_x, T)
    assert fit.converged, fit.message
    weekly = dict(fit.params, alpha=fit.params["alpha"] / DAYS_PER_WEEK)
    for name, published in BTYDPLUS_CDNOW.items():
        assert abs(weekly[name] - published) <= 0.0005, (name, weekly)
