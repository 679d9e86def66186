"""Slow, obviously-correct references the fast code is checked against."""

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
