"""Pareto/NBD against the published formulas written out by hand, numerical integration and simulation."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

import _simulate as sim
from _reference import hyp2f1_by_hand
from crmcli.analytics import pareto

PARAMS = {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}   # alpha < beta
ALPHA_LARGER = {"r": 0.55, "alpha": 20.0, "s": 1.7, "beta": 12.5}
EQUAL = {"r": 1.2, "alpha": 9.0, "s": 0.8, "beta": 9.0}


def a0_by_hand(r, alpha, s, beta, x, t_x, T):
    """A_0 of Fader & Hardie (2005), "A note on deriving the Pareto/NBD model", with its case split."""
    rsx = r + s + x
    if alpha >= beta:
        b, base = s + 1, alpha
    else:
        b, base = r + x, beta
    gap = abs(alpha - beta)
    return (hyp2f1_by_hand(rsx, b, rsx + 1, gap / (base + t_x)) / (base + t_x) ** rsx
            - hyp2f1_by_hand(rsx, b, rsx + 1, gap / (base + T)) / (base + T) ** rsx)


def likelihood_by_hand(r, alpha, s, beta, x, t_x, T):
    alive_at_T = 1 / ((alpha + T) ** (r + x) * (beta + T) ** s)
    return (math.gamma(r + x) * alpha ** r * beta ** s / math.gamma(r)
            * (alive_at_T + s / (r + s + x) * a0_by_hand(r, alpha, s, beta, x, t_x, T)))


def p_alive_by_hand(r, alpha, s, beta, x, t_x, T):
    return 1 / (1 + s / (r + s + x) * (alpha + T) ** (r + x) * (beta + T) ** s
                * a0_by_hand(r, alpha, s, beta, x, t_x, T))


CASES = [(0, 0, 40), (2, 30, 40), (5, 12.5, 100), (1, 3, 3), (0, 0, 0)]


@pytest.mark.parametrize("params", [PARAMS, ALPHA_LARGER, EQUAL], ids=["alpha<beta", "alpha>beta", "alpha=beta"])
@pytest.mark.parametrize("x, t_x, T", CASES)
def test_log_likelihood_equals_hand_computation(params, x, t_x, T):
    expected = math.log(likelihood_by_hand(*params.values(), x, t_x, T))
    assert pareto.log_likelihood(params, x, t_x, T) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("params", [PARAMS, ALPHA_LARGER, EQUAL], ids=["alpha<beta", "alpha>beta", "alpha=beta"])
@pytest.mark.parametrize("x, t_x, T", CASES)
def test_p_alive_equals_hand_computation(params, x, t_x, T):
    expected = p_alive_by_hand(*params.values(), x, t_x, T)
    assert pareto.p_alive(params, x, t_x, T) == pytest.approx(expected, rel=1e-9)


def likelihood_by_integration(r, alpha, s, beta, x, t_x, T):
    """The model's story: alive at T, or died at some tau in (t_x, T]; the integral over tau done numerically.
    Everything is divided by its value at t_x so that x in the hundreds does not underflow."""
    def log_density(u, m):
        return -(r + x) * math.log(alpha + u) - m * math.log(beta + u)

    scale = log_density(t_x, s)
    alive = math.exp(log_density(T, s) - scale)
    died, _ = quad(lambda u: s * math.exp(log_density(u, s + 1) - scale), t_x, T,
                   epsabs=0, epsrel=1e-13, limit=500) if T > t_x else (0.0, 0.0)
    log_constant = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    return log_constant + scale + math.log(alive + died), alive / (alive + died)


@pytest.mark.parametrize("params", [
    PARAMS, ALPHA_LARGER,
    {"r": 0.55, "alpha": 100.5, "s": 0.6, "beta": 1.7},   # alpha >> beta: z close to 1 at small t
    {"r": 2.0, "alpha": 1.5, "s": 1.0, "beta": 500.0},    # beta >> alpha
])
@pytest.mark.parametrize("x, t_x, T", [(0, 0, 3000), (100, 300, 400), (10, 20, 3000), (450, 2900, 3000)])
def test_log_likelihood_and_p_alive_match_numerical_integration(params, x, t_x, T):
    expected_ll, expected_alive = likelihood_by_integration(*params.values(), x, t_x, T)
    assert pareto.log_likelihood(params, x, t_x, T) == pytest.approx(expected_ll, rel=1e-10)
    assert pareto.p_alive(params, x, t_x, T) == pytest.approx(expected_alive, rel=1e-8, abs=1e-300)


def test_one_time_buyers_fade():
    # Unlike BG/NBD, a customer who never came back may have left: P(alive) falls with silence.
    alive = pareto.p_alive(PARAMS, 0, 0, [0, 30, 365, 3000])
    assert alive[0] == 1.0
    assert np.all(np.diff(alive) < 0) and alive[-1] < 0.05


def test_expected_purchases_equal_hand_computation():
    r, alpha, s, beta = ALPHA_LARGER.values()
    x, t_x, T, t = 3, 50.0, 200.0, 365.0
    expected = ((r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
                * p_alive_by_hand(r, alpha, s, beta, x, t_x, T))
    assert pareto.expected_purchases(ALPHA_LARGER, t, x, t_x, T) == pytest.approx(expected, rel=1e-9)


def test_expected_purchases_at_s_equal_one_is_the_log_limit():
    params = dict(PARAMS, s=1.0)
    r, alpha, _, beta = params.values()
    x, t_x, T, t = 2, 30.0, 90.0, 180.0
    limit = ((r + x) * (beta + T) / (alpha + T) * math.log((beta + T + t) / (beta + T))
             * float(pareto.p_alive(params, x, t_x, T)))
    assert pareto.expected_purchases(params, t, x, t_x, T) == pytest.approx(limit, rel=1e-12)
    near = [pareto.expected_purchases(dict(params, s=1 + e), t, x, t_x, T) for e in (-1e-7, 1e-7)]
    assert near == pytest.approx([limit, limit], rel=1e-6)


def test_expected_purchases_new():
    r, alpha, s, beta = PARAMS.values()
    t = np.array([1.0, 30.0, 365.0])
    expected = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
    np.testing.assert_allclose(pareto.expected_purchases_new(PARAMS, t), expected, rtol=1e-12)
    np.testing.assert_allclose(pareto.expected_purchases(PARAMS, t, 0, 0, 0), expected, rtol=1e-12)


def test_parameter_recovery():
    # 80,000 customers: beta's standard error is then about 2.5%, so 10% is four of them.
    rng = np.random.default_rng(20240602)
    n = 80_000
    T = sim.observation_lengths(rng, n)
    x, t_x = sim.pareto(rng, n, **PARAMS, T=T)
    fit = pareto.fit(x, t_x, T)
    assert fit.converged, fit.message
    for name, true in PARAMS.items():
        assert fit.params[name] == pytest.approx(true, rel=0.10), name
    assert fit.log_likelihood == pytest.approx(pareto.log_likelihood(fit.params, x, t_x, T).sum(), rel=1e-12)
