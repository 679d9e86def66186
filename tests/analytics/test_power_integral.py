"""The quadrature for I(a, b; k, m) = int_0^inf (a+v)^-k (b+v)^-m dv against scipy's quad and the 2F1 series."""

import itertools

import numpy as np
import pytest
from _reference import log_power_integral_by_quad

from crmcli.analytics import pareto
from crmcli.analytics.power_integral import log_power_integral

# (a, b) = (alpha + t, beta + t); k, m = r + x (+1), s (+1). The grid reaches z = 1 - a/b
# within 1e-13 of 1 and beta in the millions, where the series needs millions of terms.
BASES = [(1e-6, 1e-6), (0.5, 80.0), (70.0, 3e6), (1e-6, 7e6), (3e6, 0.5), (900.0, 5.2e6), (2.0, 2.0001)]
EXPONENTS = [(0.3, 1.7), (1.0, 1.0), (2.0, 2e4), (13.0, 3.4e4), (450.0, 0.6), (2.0 ** -20, 1.0 + 2.0 ** -20),
             (0.55, 7e6)]


@pytest.mark.parametrize("a, b", BASES)
@pytest.mark.parametrize("k, m", EXPONENTS)
def test_matches_numerical_integration(a, b, k, m):
    expected = log_power_integral_by_quad(a, b, k, m)
    # Relative to log I: with k or m in the millions log I is itself in the millions.
    assert float(log_power_integral(a, b, k, m)) == pytest.approx(expected, rel=1e-13, abs=1e-12)


def test_symmetric_and_vectorised():
    a, b, k, m = np.array([0.5, 70.0, 3e6]), np.array([80.0, 3e6, 0.5]), np.array([0.3, 2.0, 450.0]), 1.7
    together = log_power_integral(a, b, k, m)
    assert together.shape == (3,)
    np.testing.assert_array_equal(together, [float(log_power_integral(*p, m)) for p in zip(a, b, k, strict=True)])
    np.testing.assert_allclose(log_power_integral(b, a, m, k), together, rtol=1e-14)


def test_closed_forms():
    # a = b: I = a^-(k+m-1) / (k+m-1). k+m-1 tiny: I is huge, all in the slowly falling tail.
    for a, k, m in [(80.0, 2.0, 3.0), (3e6, 13.0, 3.4e4), (0.5, 2.0 ** -20, 1.0 + 2.0 ** -20)]:
        assert float(log_power_integral(a, a, k, m)) == pytest.approx(-(k + m - 1) * np.log(a) - np.log(k + m - 1),
                                                                       rel=1e-14)
    # m = 1, k = 1: I = log(b/a) / (b-a), here with b/a = 1e12.
    a, b = 1e-6, 1e6
    assert float(log_power_integral(a, b, 1.0, 1.0)) == pytest.approx(np.log(np.log(b / a) / (b - a)), rel=1e-14)


def test_gradient_matches_finite_differences():
    points = np.array([
        [0.5, 80.0, 0.3, 1.7],
        [70.0, 3e6, 2.0, 2e4],       # where the fit drifts: beta -> infinity with s
        [3e6, 0.5, 450.0, 0.6],
        [1e-3, 3e6, 0.6, 1.7],
        [2.0, 2.0001, 1.0, 1.0],
    ]).T
    value, *gradient = log_power_integral(*points, gradient=True)
    np.testing.assert_allclose(value, log_power_integral(*points), rtol=1e-15)
    for i in range(4):
        step = 1e-4 * points[i]   # log I is up to 3e5 here: smaller steps see its rounding
        up, down = points.copy(), points.copy()
        up[i] += step
        down[i] -= step
        numeric = (log_power_integral(*up) - log_power_integral(*down)) / (2 * step)
        np.testing.assert_allclose(gradient[i], numeric, rtol=1e-7, atol=1e-12)


def test_agrees_with_the_series_where_both_are_cheap():
    # pareto sums the 2F1 series up to z = 0.95 and integrates beyond: at the switch the two
    # must agree to rounding, value and gradient, or the likelihood would have a step.
    rng = np.random.default_rng(7)
    alpha, t = rng.uniform(0.5, 100, 400), rng.uniform(0, 900, 400)
    z = rng.uniform(0.0, 0.97, 400)
    beta = (alpha + z * t) / (1 - z)                   # z = (beta - alpha) / (beta + t)
    # (r + x, s + 1) of the first integral, (r + x + 1, s) of the second.
    k = rng.uniform(0.05, 30, 400) + np.r_[np.zeros(200), np.ones(200)]
    m = rng.uniform(0.05, 5, 400) + np.r_[np.ones(200), np.zeros(200)]
    series = pareto._log_tail_integral_series_with_gradient(alpha, beta, k, m, t)
    quadrature = log_power_integral(alpha + t, beta + t, k, m, gradient=True)
    np.testing.assert_allclose(quadrature[0], series[0], rtol=1e-13, atol=1e-13)
    for from_series, from_quadrature in zip(series[1:], quadrature[1:], strict=True):
        np.testing.assert_allclose(from_quadrature, from_series, rtol=1e-11, atol=1e-14)


def test_cost_does_not_depend_on_the_parameters(monkeypatch):
    # The nodes per integral, whatever a, b, k and m: the series needs ~35 / (1 - z) terms.
    from crmcli.analytics import power_integral

    sizes = []
    real = power_integral._integrate

    def spy(*args):
        sizes.append(args[-2])
        return real(*args)

    monkeypatch.setattr(power_integral, "_integrate", spy)
    for (a, b), (k, m) in itertools.product(BASES, EXPONENTS):
        log_power_integral(a, b, k, m)
    assert max(sizes) <= 600
