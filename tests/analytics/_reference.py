"""Slow, obviously-correct references the fast code is checked against."""

import itertools

import numpy as np
from scipy.special import gammaln, logsumexp


def log_hyp2f1_reference(a, b, c, z, terms=400_000):
    """log 2F1(a, b; c; z) for positive a, b, c and 0 < z < 1: the defining
    series, every term from gammaln (no recurrence to drift), summed in log
    space. Enough terms for x in the hundreds at z = 0.99."""
    n = np.arange(terms, dtype=float)
    log_terms = (gammaln(a + n) - gammaln(a) + gammaln(b + n) - gammaln(b)
                 - gammaln(c + n) + gammaln(c) - gammaln(n + 1) + n * np.log(z))
    return logsumexp(log_terms)


def hyp2f1_by_hand(a, b, c, z, terms=2000):
    """2F1 as a plain loop of floats, for the hand computations (z well below 1)."""
    total, term = 0.0, 1.0
    for n in range(terms):
        total += term
        term *= (a + n) * (b + n) / ((c + n) * (n + 1)) * z
    return total


def log_power_integral_by_quad(a, b, k, m):
    """log of the integral from 0 to infinity of (a+v)^-k (b+v)^-m dv, by scipy's quad.

    In w = log v, cut into pieces of unit length (quad is reliable on each) from
    well below the smallest scale to well above the largest (V = e^high); the
    rest, which may fall only like v^-(k+m-1), after substituting
    u = (v/V)^-(k+m-1), which maps it onto (0, 1]. Everything is divided by the
    integrand's largest value at the cuts, so that huge k or m do not overflow.
    """
    import math
    import warnings

    from scipy.integrate import IntegrationWarning, quad

    A = k + m - 1.0

    def log_f(w):  # log of (a+v)^-k (b+v)^-m v at v = e^w
        return w - k * np.logaddexp(math.log(a), w) - m * np.logaddexp(math.log(b), w)

    low = min(math.log(a), math.log(b), math.log(a / k), math.log(b / m)) - 45.0
    high = max(math.log(a), math.log(b)) + 45.0
    cuts = np.linspace(low, high, int(math.ceil(high - low)) + 1)
    scale = max(log_f(w) for w in cuts)

    def tail(u):
        # v = V u^(-1/A) with V = e^high: v^-A = V^-A u, so the integrand (in w) times
        # dw/du = 1 / (A u) is V^-A / A * (1 + a/v)^-k (1 + b/v)^-m: nothing cancels.
        shrink = math.exp(math.log(u) / A - high) if u > 0 else 0.0   # 1 / v
        return math.exp(-A * high - scale - k * math.log1p(a * shrink) - m * math.log1p(b * shrink)) / A

    total = 0.0
    with warnings.catch_warnings():
        # With k or m in the millions, log_f is a huge number with rounding noise near 1e-8
        # of the integrand, below which quad cannot go and says so; the answer is still right.
        warnings.simplefilter("ignore", IntegrationWarning)
        for left, right in itertools.pairwise(cuts):
            total += quad(lambda w: math.exp(log_f(w) - scale), left, right,
                          epsabs=1e-18, epsrel=1e-13, limit=200)[0]
        total += quad(tail, 0.0, 1.0, epsabs=1e-18, epsrel=1e-13, limit=200)[0]
    return math.log(total) + scale
