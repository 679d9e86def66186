"""S(k, z) = e^z E_k(z) by quadrature and by the recurrence ladder, against scipy's adaptive quad."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from crmcli.analytics import exp_integral


def by_quad(k, z):
    def integrand(s):
        return math.exp(-z * s - k * math.log1p(s))

    def weighted(weight):
        return quad(lambda s: weight(s) * integrand(s), 0, np.inf, epsabs=0, epsrel=1e-13, limit=500)[0]

    return weighted(lambda s: 1.0), weighted(lambda s: -math.log1p(s)), weighted(lambda s: -s)


ORDERS = [0.05, 0.3, 1.0, 1.5, 2.0, 7.3, 50.2, 300.5]
ARGUMENTS = [1e-3, 0.05, 0.7, 3.0, 20.0, 400.0]


@pytest.mark.parametrize("k", ORDERS)
def test_quadrature_against_quad(k):
    for z in ARGUMENTS:
        expected = by_quad(k, z)
        got = exp_integral.quadrature(k, z)
        for value, reference in zip(got, expected, strict=True):
            assert float(value) == pytest.approx(reference, rel=1e-11)


def test_closed_forms():
    # S(1, z) = e^z E_1(z); S(k, z) -> 1 / (z + k - 1) for z + k large, S(2, z) = 1 - z S(1, z).
    from scipy.special import exp1
    z = np.array([1e-4, 0.1, 2.0, 30.0])
    assert exp_integral.quadrature(1.0, z)[0] == pytest.approx(np.exp(z) * exp1(z), rel=1e-12)
    assert exp_integral.quadrature(2.0, z)[0] == pytest.approx(1 - z * np.exp(z) * exp1(z), rel=1e-12)


@pytest.mark.parametrize("r", [0.05, 0.55, 1.0, 2.3])
def test_ladder_against_quad(r):
    z = np.array([1e-4, 0.01, 0.5, 3.0, 17.0, 150.0])
    S, d_k, d_z = exp_integral.ladder(r, 60, z)
    assert S.shape == (z.size, 61)
    for j in (0, 1, 2, 5, 17, 60):
        for i, zi in enumerate(z):
            value, dk, dz = by_quad(r + j, zi)
            assert S[i, j] == pytest.approx(value, rel=1e-11)
            assert d_k[i, j] == pytest.approx(dk, rel=1e-9)
            if zi >= 0.01:   # quad itself struggles with d/dz at z = 1e-4
                assert d_z[i, j] == pytest.approx(dz, rel=1e-9)


def test_ladder_recurrence_would_blow_up_in_the_wrong_direction():
    # The reason for the pivot: upwards from k = r at z = 150 an error grows like (z/k)^j.
    z, r = 150.0, 0.5
    S = [exp_integral.quadrature(r, z)[0].item()]
    for j in range(40):
        S.append((1.0 - z * S[-1]) / (r + j))
    ladder = exp_integral.ladder(r, 40, [z])[0][0]
    assert ladder[40] == pytest.approx(by_quad(r + 40, z)[0], rel=1e-11)
    assert abs(S[40] / ladder[40] - 1) > 1.0
