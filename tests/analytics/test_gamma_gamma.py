"""Gamma-Gamma spend model: the density by hand, the conditional mean, recovery."""

import math

import _simulate as sim
import numpy as np
import pytest

from crmcli.analytics import gamma_gamma

PARAMS = {"p": 6.0, "q": 4.0, "gamma": 16.0}


def density_by_hand(p, q, gamma, x, m):
    """Density of the mean m of x transactions (Fader & Hardie's Gamma-Gamma note), plain floats."""
    return (math.gamma(p * x + q) / (math.gamma(p * x) * math.gamma(q)) * gamma ** q
            * m ** (p * x - 1) * x ** (p * x) / (gamma + m * x) ** (p * x + q))


@pytest.mark.parametrize("x, m", [(1, 20.0), (2, 35.5), (5, 12.25)])
def test_log_likelihood_equals_hand_computation(x, m):
    expected = math.log(density_by_hand(*PARAMS.values(), x, m))
    assert gamma_gamma.log_likelihood(PARAMS, x, m) == pytest.approx(expected, rel=1e-9)


def test_log_likelihood_is_a_density_in_m():
    # Integrates to 1 over m for a given x (a check independent of any formula above).
    from scipy.integrate import quad
    for x in (1, 3, 10):
        total, _ = quad(lambda m, x=x: math.exp(gamma_gamma.log_likelihood(PARAMS, x, m)), 0, np.inf)
        assert total == pytest.approx(1.0, rel=1e-8)


def test_expected_spend_for_one_time_buyers_is_the_population_mean():
    p, q, gamma = PARAMS.values()
    out = gamma_gamma.expected_spend(PARAMS, [0, 0], [np.nan, 123.0])  # m is ignored when x == 0
    np.testing.assert_allclose(out, p * gamma / (q - 1), rtol=1e-15)


def test_expected_spend_weighs_own_mean_against_the_population():
    p, q, gamma = PARAMS.values()
    x, m = 3.0, 50.0
    weight = p * x / (p * x + q - 1)
    expected = (1 - weight) * p * gamma / (q - 1) + weight * m
    assert gamma_gamma.expected_spend(PARAMS, x, m) == pytest.approx(expected, rel=1e-14)
    # The more transactions, the more the customer's own mean counts.
    assert gamma_gamma.expected_spend(PARAMS, 10_000, m) == pytest.approx(m, rel=1e-3)


def test_expected_spend_is_nan_when_the_population_mean_is_infinite():
    params = {"p": 2.0, "q": 0.8, "gamma": 10.0}
    out = gamma_gamma.expected_spend(params, [0, 3], [np.nan, 20.0])
    assert np.isnan(out[0])
    assert out[1] == pytest.approx((10.0 + 60.0) * 2.0 / (6.0 + 0.8 - 1.0))


def test_expected_spend_rejects_missing_mean_for_repeat_buyers():
    with pytest.raises(ValueError):
        gamma_gamma.expected_spend(PARAMS, [2], [np.nan])


def test_parameter_recovery():
    # 200,000 customers with 1 to 10 repeat transactions: gamma's standard error is then about 2.2%.
    rng = np.random.default_rng(20240603)
    x = rng.integers(1, 11, 200_000).astype(float)
    m = sim.gamma_gamma(rng, x, **PARAMS)
    fit = gamma_gamma.fit(x, m)
    assert fit.converged, fit.message
    for name, true in PARAMS.items():
        assert fit.params[name] == pytest.approx(true, rel=0.10), name
    assert fit.log_likelihood == pytest.approx(gamma_gamma.log_likelihood(fit.params, x, m).sum(), rel=1e-12)


def test_fit_uses_repeat_buyers_with_positive_spend_only():
    rng = np.random.default_rng(9)
    x = rng.integers(1, 6, 2000).astype(float)
    m = sim.gamma_gamma(rng, x, **PARAMS)
    base = gamma_gamma.fit(x, m)
    noisy = gamma_gamma.fit(np.r_[x, 0, 0, 3], np.r_[m, np.nan, 0.0, 0.0])
    assert noisy.customers == base.customers == 2000
    assert noisy.params == pytest.approx(base.params)


def test_fit_without_usable_customers_says_so():
    fit = gamma_gamma.fit([0, 0], [np.nan, np.nan])
    assert not fit.converged and fit.customers == 0 and "no customer" in fit.message
