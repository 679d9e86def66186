"""Pareto/NBD against the published formulas written out by hand, numerical integration and simulation."""

import math

import _simulate as sim
import numpy as np
import pytest
from _reference import hyp2f1_by_hand
from scipy.integrate import quad

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
                   epsabs=0, epsrel=1e-13, limit=500) if t_x < T else (0.0, 0.0)
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


@pytest.mark.parametrize("params", [
    {"r": 0.6, "alpha": 1e-3, "s": 0.7, "beta": 3e6},     # z within 3e-10 of 1 at t = 0
    {"r": 1.0, "alpha": 70.0, "s": 2e4, "beta": 5e6},     # where a fit on thin histories drifts
], ids=["z-1e-10-from-1", "beta-to-infinity"])
@pytest.mark.parametrize("x, t_x, T", [(0, 0, 400), (3, 100, 400), (12, 178, 198), (1, 11, 58)])
def test_log_likelihood_and_p_alive_with_z_close_to_one(params, x, t_x, T):
    # The 2F1 series would need ~35 / (1 - z) terms: billions here. It stopped at four
    # million and guessed the rest, which gave P(alive) = 1 instead of 0.99977 in the first case.
    expected_ll, expected_alive = likelihood_by_integration(*params.values(), x, t_x, T)
    # abs: the reference adds s log(beta) ~ 3e5 to a log-likelihood near -1, so it carries ~3e-11.
    assert pareto.log_likelihood(params, x, t_x, T) == pytest.approx(expected_ll, rel=1e-11, abs=1e-10)
    assert pareto.p_alive(params, x, t_x, T) == pytest.approx(expected_alive, rel=1e-9)


# (x, t_x, T) of the 31 buyers of `crm demo --customers 60 --seed 2` as of 2025-01-25, the
# demo's clock at 2026-03-01: thin histories on which the fit runs towards s, beta -> infinity
# with s / beta fixed (every customer the same drop-out rate), a limit of the model.
THIN_HISTORIES = [
    (0, 0, 72), (0, 0, 124), (0, 0, 144), (0, 0, 272), (0, 0, 332), (0, 0, 333), (0, 0, 420), (0, 0, 427),
    (0, 0, 456), (0, 0, 477), (1, 11, 58), (1, 19, 351), (1, 70, 345), (1, 148, 327), (1, 176, 187),
    (1, 221, 485), (2, 23, 80), (2, 32, 256), (2, 34, 37), (2, 58, 111), (2, 74, 296), (2, 106, 374),
    (2, 137, 181), (2, 152, 336), (3, 20, 513), (4, 124, 133), (4, 129, 277), (4, 227, 239), (5, 53, 141),
    (5, 74, 477), (12, 178, 198),
]


def test_fit_towards_a_limit_of_the_model_does_bounded_work(monkeypatch):
    # Work is counted, not timed: likelihood evaluations, and a budget of 2,000 terms for
    # every 2F1 series summed on the way. Each evaluation near beta -> infinity used to sum
    # about 1e5 terms per customer (15 s for this fit, up to 50 s on other demo data).
    from crmcli.analytics import hypergeometric

    real_series = hypergeometric.sum_ratio_series

    def budgeted_series(*args, **kwargs):
        sums = real_series(*args, **{**kwargs, "max_terms": 2000})
        assert sums.converged.all(), "a 2F1 series needed more than 2,000 terms"
        return sums

    monkeypatch.setattr(hypergeometric, "sum_ratio_series", budgeted_series)
    evaluations = 0
    real_maximize = pareto.maximize_likelihood

    def counting_maximize(model, names, total_and_gradient, *args, **kwargs):
        def counted(params):
            nonlocal evaluations
            evaluations += 1
            return total_and_gradient(params)
        return real_maximize(model, names, counted, *args, **kwargs)

    monkeypatch.setattr(pareto, "maximize_likelihood", counting_maximize)
    x, t_x, T = np.array(THIN_HISTORIES, dtype=float).T
    fit = pareto.fit(x, t_x, T)
    assert evaluations <= 30   # 13 now (the ridge is recognised); L-BFGS-B alone may take 15,000, its polish 3,000
    # These histories run off along s, beta -> infinity: the fit is the limit model, named by its parameters.
    assert fit.converged, fit.message
    assert pareto.is_limit(fit.params) and pareto.model_name(fit.params) == "pareto_limit"
    assert "homogeneous drop-out limit" in fit.message
    assert fit.log_likelihood == pytest.approx(pareto.log_likelihood(fit.params, x, t_x, T).sum(), rel=1e-12)
    # The common drop-out rate: a few per thousand a day.
    assert 1e-4 < fit.params["mu"] < 1e-1
    alive = pareto.p_alive(fit.params, x, t_x, T)
    assert np.all((alive >= 0) & (alive <= 1))
