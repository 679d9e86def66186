"""The series engine against slow, obviously-correct references."""

import numpy as np
import pytest
from _reference import log_hyp2f1_reference
from scipy.special import gammaln

from crmcli.analytics.hypergeometric import (
    log_hyp2f1_unit,
    log_hyp2f1_unit_with_gradient,
    sum_ratio_series,
)


@pytest.mark.parametrize("z", [0.0, 1e-4, 0.3, 0.9, 0.99, 0.999, 0.9999])
@pytest.mark.parametrize("b, extra", [(0.4, 0.3), (1.6, 1.0), (3.0, 0.61), (150.0, 1.6), (700.0, 0.6)])
def test_unit_series_matches_the_defining_series(b, extra, z):
    c = b + extra
    expected = 0.0 if z == 0 else log_hyp2f1_reference(1.0, b, c, z)
    assert log_hyp2f1_unit(b, c, z) == pytest.approx(expected, rel=1e-11, abs=1e-13)


def test_unit_series_where_scipy_fails():
    # scipy.special.hyp2f1(1, 500, 500.6, 0.999) returns nan on scipy 1.17; the series does not.
    value = np.exp(log_hyp2f1_unit(500.0, 500.6, 0.999))
    assert np.isfinite(value)
    assert value == pytest.approx(np.exp(log_hyp2f1_reference(1.0, 500.0, 500.6, 0.999)), rel=1e-11)


def test_mixed_sign_series():
    # 2F1(-2.5, 1.5; 4; z): its first terms change sign, then the bound takes over.
    a, b, c, z = -2.5, 1.5, 4.0, 0.8
    plain = sum(
        np.prod([(a + i) * (b + i) / ((c + i) * (i + 1)) for i in range(n)]) * z ** n for n in range(2000)
    )
    # Ratio z (a+j)(b+j) / ((c+j)(1+j)): the general form with two factor pairs.
    assert sum_ratio_series(1.0, [a, b], [c, 1.0], z).total == pytest.approx(plain, rel=1e-13)


def test_runs_out_of_terms_honestly():
    z = np.array([0.5, 1 - 1e-4])
    sums = sum_ratio_series(np.ones(2), [np.full(2, 0.5)], [np.full(2, 1.1)], z, max_terms=1000)
    assert sums.converged.tolist() == [True, False]
    # What was added: 1000 terms plus an estimate of the rest, which for positive
    # terms with a rising ratio is a lower bound on the truth.
    n = np.arange(1001)
    partial = np.sum(np.exp(gammaln(0.5 + n) - gammaln(0.5) - gammaln(1.1 + n) + gammaln(1.1) + n * np.log(z[1])))
    truth = np.exp(log_hyp2f1_reference(1.0, 0.5, 1.1, z[1]))
    assert partial < sums.total[1] <= truth


def test_gradient_matches_finite_differences():
    b = np.array([0.5, 3.0, 100.0, 1.61])
    c = b + np.array([0.6, 1.6, 1.6, 1.0])
    for z in [1e-3, 0.3, 0.9, 0.99]:
        value, d_b, d_c, d_z = log_hyp2f1_unit_with_gradient(b, c, z)
        h = 1e-6
        np.testing.assert_allclose(value, log_hyp2f1_unit(b, c, z), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(d_b, (log_hyp2f1_unit(b + h, c, z) - log_hyp2f1_unit(b - h, c, z)) / (2 * h),
                                   rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(d_c, (log_hyp2f1_unit(b, c + h, z) - log_hyp2f1_unit(b, c - h, z)) / (2 * h),
                                   rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(d_z, (log_hyp2f1_unit(b, c, z + h) - log_hyp2f1_unit(b, c, z - h)) / (2 * h),
                                   rtol=1e-6)
    # At z = 0 the z-derivative is the first coefficient b / c.
    assert log_hyp2f1_unit_with_gradient(2.0, 5.0, 0.0)[3] == pytest.approx(0.4)


@pytest.mark.parametrize("derivatives", [False, True])
def test_a_block_summed_a_few_customers_at_a_time_gives_the_same_bits(monkeypatch, derivatives):
    # The long tails are summed in blocks of (customers x terms), a slice of customers at a time to bound
    # memory; each customer's terms depend on her own row alone, so slicing must not change a bit. Slow
    # series (z near 1) so that most customers reach the blocks, one numerator negative so that the
    # absolute sums are tracked too, and varying parameters so that a row misplaced would show.
    import crmcli.analytics.hypergeometric as series

    rng = np.random.default_rng(7)
    z = rng.uniform(0.9, 0.995, 3000)
    num = [rng.uniform(0.5, 40.0, 3000), -2.5]
    den = [num[0] + rng.uniform(0.2, 3.0, 3000), 1.0]

    def summed():
        out = sum_ratio_series(1.0, num, den, z, derivatives=derivatives)
        return [out.total, out.abs_total, out.converged, *(() if not derivatives else (out.n_weighted,
                                                                                       *out.h_weighted))]

    monkeypatch.setattr(series, "_SLICE_CELLS", 1 << 40)
    whole = summed()
    monkeypatch.setattr(series, "_SLICE_CELLS", 37)
    sliced = summed()
    for one, other in zip(whole, sliced, strict=True):
        np.testing.assert_array_equal(one, other)
    assert np.all(np.abs(whole[0]) > 0)
