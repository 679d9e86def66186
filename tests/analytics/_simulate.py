"""Customer bases drawn from the models themselves, for parameter-recovery tests.

Each simulator follows the model's story literally (vectorised), so a fit
that recovers the parameters checks the likelihood against the story, not
against another formula.
"""

import numpy as np


def observation_lengths(rng, n, low_days=365, high_days=1095):
    """T in whole days (as the product computes it): customers acquired uniformly
    over two years, observed for one to three years. Purchase times within it
    stay continuous, as the models assume."""
    return rng.integers(low_days, high_days + 1, n).astype(float)


def _time_of_kth_arrival(rng, k, n_arrivals, window):
    """Time of the k-th of n_arrivals Poisson arrivals in (0, window] (0 where k == 0).

    Given their number, the arrival times are sorted uniforms, and the k-th of
    n sorted uniforms is Beta(k, n - k + 1).
    """
    k_safe = np.maximum(k, 1)
    frac = rng.beta(k_safe, np.maximum(n_arrivals, k_safe) - k_safe + 1)
    return np.where(k > 0, frac * window, 0.0)


def bgnbd(rng, n, r, alpha, a, b, T):
    """(x, t_x): a buyer's Poisson purchases go on until she leaves, with
    probability p after each repeat purchase."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    purchases_before_leaving = rng.geometric(p)  # >= 1: she leaves right after this one
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, purchases_before_leaving)
    t_x = _time_of_kth_arrival(rng, x, arrivals, T)
    return x.astype(float), t_x


def pareto(rng, n, r, alpha, s, beta, T):
    """(x, t_x): Poisson purchases during an exponential lifetime."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    mu = rng.gamma(s, 1.0 / beta, n)
    alive_for = np.minimum(rng.exponential(1.0 / mu), T)
    x = rng.poisson(lam * alive_for)
    t_x = _time_of_kth_arrival(rng, x, x, alive_for)  # the last arrival
    return x.astype(float), t_x


def gamma_gamma(rng, x, p, q, gamma):
    """m: the mean of x transaction values, each Gamma(p, nu) with nu ~ Gamma(q, gamma) per customer."""
    x = np.asarray(x, dtype=float)
    nu = rng.gamma(q, 1.0 / gamma, x.shape)
    # The mean of x Gamma(p, nu) values is Gamma(p x, x nu).
    m = rng.gamma(np.maximum(p * x, 1e-12), 1.0 / (x * np.where(x > 0, nu, 1.0)))
    return np.where(x > 0, m, np.nan)


def pareto_limit(rng, n, r, alpha, mu, T):
    """(x, t_x): Poisson purchases during an exponential lifetime of the same rate mu for everyone
    (Pareto/NBD's homogeneous drop-out limit, pareto_limit.py)."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    alive_for = np.minimum(rng.exponential(1.0 / mu, n), T)
    x = rng.poisson(lam * alive_for)
    t_x = _time_of_kth_arrival(rng, x, x, alive_for)
    return x.astype(float), t_x


def mbgnbd(rng, n, r, alpha, a, b, T):
    """(x, t_x): as bgnbd, but the customer may also leave right after her first purchase (MBG/NBD):
    she leaves with probability p after each purchase, the first one included."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    repeats_before_leaving = rng.geometric(p) - 1  # >= 0: she leaves right after the last of them
    arrivals = rng.poisson(lam * T)
    x = np.minimum(arrivals, repeats_before_leaving)
    t_x = _time_of_kth_arrival(rng, x, arrivals, T)
    return x.astype(float), t_x
