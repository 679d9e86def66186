"""BG/NBD against the paper's formulas written out by hand, slow references and simulation."""

import itertools
import math

import _simulate as sim
import numpy as np
import pytest
from _reference import log_hyp2f1_reference
from scipy.integrate import quad
from scipy.special import betaln

from crmcli.analytics import bgnbd

PARAMS = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}


def beta_fn(p, q):
    return math.gamma(p) * math.gamma(q) / math.gamma(p + q)


def likelihood_by_hand(r, alpha, a, b, x, t_x, T):
    """FHL 2005, eq. 6, in plain floats."""
    rate_part = math.gamma(r + x) * alpha ** r / math.gamma(r)
    value = beta_fn(a, b + x) / beta_fn(a, b) * rate_part / (alpha + T) ** (r + x)
    if x > 0:
        value += beta_fn(a + 1, b + x - 1) / beta_fn(a, b) * rate_part / (alpha + t_x) ** (r + x)
    return value


@pytest.mark.parametrize("x, t_x, T", [(0, 0, 40), (2, 30, 40), (5, 12.5, 100), (1, 3, 3)])
def test_log_likelihood_equals_hand_computation(x, t_x, T):
    expected = math.log(likelihood_by_hand(*PARAMS.values(), x, t_x, T))
    assert bgnbd.log_likelihood(PARAMS, x, t_x, T) == pytest.approx(expected, rel=1e-9)


def test_log_likelihood_is_finite_for_heavy_buyers_over_years():
    ll = bgnbd.log_likelihood(PARAMS, [300, 800], [2900, 3600], [3000, 3650])
    assert np.all(np.isfinite(ll)) and np.all(ll < 0)


def test_p_alive_equals_hand_computation():
    r, alpha, a, b = PARAMS.values()
    x, t_x, T = 3, 50.0, 200.0
    expected = 1.0 / (1.0 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert bgnbd.p_alive(PARAMS, x, t_x, T) == pytest.approx(expected, rel=1e-12)
    # No repeat purchase: no chance yet to have left (the model's definition).
    assert bgnbd.p_alive(PARAMS, 0, 0, 2000) == 1.0


def expected_by_paper(params, t, x, t_x, T):
    """FHL 2005, eq. 10, with the 2F1 from its defining series (log space)."""
    r, alpha, a, b = params.values()
    z = t / (alpha + T + t)
    log_f = log_hyp2f1_reference(r + x, b + x, a + b + x - 1, z)
    bracket = 1.0 - math.exp((r + x) * math.log1p(-z) + log_f)
    return (a + b + x - 1) / (a - 1) * bracket * float(bgnbd.p_alive(params, x, t_x, T))


GRID = [  # (t, x, t_x, T): long horizons, new customers, and buyers with hundreds of repeat days
    (30, 0, 0, 100), (365, 2, 30, 40), (3650, 0, 0, 0), (100, 100, 300, 400),
    (1000, 500, 900, 1000), (365, 5, 100, 1000), (50, 300, 1000, 3000), (2000, 450, 2990, 3000),
]


@pytest.mark.parametrize("t, x, t_x, T", GRID)
def test_expected_purchases_match_the_papers_series(t, x, t_x, T):
    expected = expected_by_paper(PARAMS, t, x, t_x, T)
    assert bgnbd.expected_purchases(PARAMS, t, x, t_x, T) == pytest.approx(expected, rel=1e-8)


def expected_if_active_by_integration(params, t, x, T):
    """E[purchases in (T, T+t] | active] = E[(1 - (1 + p c)^-(r+x)) / p], p ~ Beta(a, b+x), c = t/(alpha+T):
    the model's story integrated numerically, independent of any 2F1."""
    r, alpha, a, b = params.values()
    c, k = t / (alpha + T), r + x

    def g(p):
        return k * c if p == 0 else -math.expm1(-k * math.log1p(p * c)) / p

    cuts = sorted({0.0, min(0.5, 1.0 / (c * k)), 0.5, 1.0})
    total = 0.0
    for lo, hi in itertools.pairwise(cuts):
        # QUADPACK's algebraic weights take the Beta density's endpoint powers exactly.
        w_lo = a - 1 if lo == 0 else 0.0
        w_hi = b + x - 1 if hi == 1 else 0.0

        def rest(p, w_lo=w_lo, w_hi=w_hi):
            return g(p) * (p ** (a - 1 - w_lo) if p > 0 else 1.0) * (1 - p) ** (b + x - 1 - w_hi)

        total += quad(rest, lo, hi, weight="alg", wvar=(w_lo, w_hi), limit=200, epsabs=0, epsrel=1e-13)[0]
    return total * math.exp(-betaln(a, b + x))


@pytest.mark.parametrize("params", [
    PARAMS,
    {"r": 2.0, "alpha": 1.0, "a": 1.0, "b": 3.0},          # a = 1: the paper's form is 0/0
    {"r": 0.5, "alpha": 0.5, "a": 3.5, "b": 0.2},          # a > 2
    {"r": 0.3, "alpha": 10.0, "a": 0.3, "b": 0.4},         # a + b < 1: the paper's series has c < 0 at x = 0
    {"r": 1.5, "alpha": 10.0, "a": 1 + 1e-9, "b": 1.4},
    # r far above a + b - 1 (very regular buyers): the Euler series cancels and
    # the positive-term fallback takes over (found by the property test).
    {"r": 100.0, "alpha": 100.0, "a": 1.0, "b": 1.0},
    {"r": 50.0, "alpha": 1500.0, "a": 0.3, "b": 4.0},
])
@pytest.mark.parametrize("t, x, T", [(30, 0, 100), (365, 2, 40), (36500, 0, 0), (1000, 50, 60), (365, 500, 3000)])
def test_expected_purchases_match_numerical_integration(params, t, x, T):
    active = bgnbd.expected_purchases(params, t, x, T, T) / bgnbd.p_alive(params, x, T, T)
    assert active == pytest.approx(expected_if_active_by_integration(params, t, x, T), rel=1e-9)


def test_expected_purchases_new_is_the_unconditional_formula():
    r, alpha, a, b = PARAMS.values()
    for t in [1.0, 30.0, 365.0, 3650.0]:
        z = t / (alpha + t)
        log_f = log_hyp2f1_reference(r, b, a + b - 1, z)
        expected = (a + b - 1) / (a - 1) * (1 - math.exp(r * math.log(alpha / (alpha + t)) + log_f))
        assert bgnbd.expected_purchases_new(PARAMS, t) == pytest.approx(expected, rel=1e-9)


def test_expected_purchases_broadcast_over_horizons():
    t = np.array([[30.0], [365.0]])
    out = bgnbd.expected_purchases(PARAMS, t, [0, 4], [0, 50], [100, 200])
    assert out.shape == (2, 2)
    assert out[1, 1] == pytest.approx(float(bgnbd.expected_purchases(PARAMS, 365, 4, 50, 200)))


def test_parameter_recovery():
    # 40,000 customers: the largest standard error (b) is then about 2.5%, so 10% is four of them.
    rng = np.random.default_rng(20240601)
    n = 40_000
    T = sim.observation_lengths(rng, n)
    x, t_x = sim.bgnbd(rng, n, **PARAMS, T=T)
    fit = bgnbd.fit(x, t_x, T)
    assert fit.converged, fit.message
    for name, true in PARAMS.items():
        assert fit.params[name] == pytest.approx(true, rel=0.10), name
    assert fit.customers == n and fit.repeat_customers == int((x > 0).sum())
    # The compressed objective the optimiser saw is the public log-likelihood.
    assert fit.log_likelihood == pytest.approx(bgnbd.log_likelihood(fit.params, x, t_x, T).sum(), rel=1e-12)


def test_weights_count_customers():
    rng = np.random.default_rng(5)
    T = sim.observation_lengths(rng, 3000)
    x, t_x = sim.bgnbd(rng, 3000, **PARAMS, T=T)
    x, t_x, T = np.floor(x), np.floor(t_x), T  # whole days, so that histories repeat
    rows, counts = np.unique(np.column_stack([x, t_x, T]), axis=0, return_counts=True)
    plain = bgnbd.fit(x, t_x, T)
    weighted = bgnbd.fit(rows[:, 0], rows[:, 1], rows[:, 2], weights=counts)
    assert weighted.customers == plain.customers == 3000
    for name in PARAMS:
        assert weighted.params[name] == pytest.approx(plain.params[name], rel=1e-5)
