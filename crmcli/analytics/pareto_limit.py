"""Pareto/NBD with one common drop-out rate: the limit s, beta -> infinity with mu = s/beta fixed.

When every customer seems to leave at about the same rate, the maximum-likelihood Pareto/NBD fit
runs off along s and beta together: the Gamma(s, beta) mixing of the drop-out rate collapses onto
its mean mu = s/beta (its coefficient of variation is 1/sqrt(s)). That limit is a proper model of
its own: Poisson purchases at lambda ~ Gamma(r, alpha) during an exponential lifetime whose rate
mu is the same for everyone. Three parameters, r, alpha, mu (per day); pareto.fit falls back to it
when the four-parameter fit runs along the ridge (see pareto.py).

Per customer (x repeat purchases, the last at t_x, observed for T days), with k = r + x and the
lifetime integrated out (the Pareto/NBD's individual likelihood with mu fixed, lambda integrated
against its gamma):

    L = Gamma(r+x) alpha^r / Gamma(r) * [ e^(-mu T) (alpha+T)^-k
                                          + mu * integral_{t_x}^T e^(-mu tau) (alpha+tau)^-k dtau ]

The integral is an incomplete gamma function of negative order: with a = alpha + t,
mu * integral_{t_x}^inf ... = mu^k e^(mu alpha) Gamma(1-k, mu a_1). Splitting the integral at T and
integrating its tail by parts turns the bracket into two positive terms (no difference of
incomplete gammas, which cancels badly when t_x is near T):

    bracket = mu e^(-mu t_x) a_1^(1-k) S(k, mu a_1)  +  k e^(-mu T) a_2^-k S(k+1, mu a_2)

with a_1 = alpha + t_x, a_2 = alpha + T and S(k, z) = e^z E_k(z) = int_0^inf e^(-z s) (1+s)^-k ds
(exp_integral.py says how S is computed, and why not with scipy.special). They are the limits of
the two terms of pareto.py's bracket. P(alive) = e^(-mu T) a_2^-k / bracket.

Given alive at T, the remaining lifetime is Exponential(mu) (memoryless) and the purchase rate's
posterior is Gamma(r+x, alpha+T), so E[purchases in (T, T+t] | alive] = (r+x)/(alpha+T) (1-e^(-mu t))/mu.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from crmcli.analytics.exp_integral import ladder, quadrature
from crmcli.analytics.fitting import (
    FitResult,
    check_history,
    check_horizon,
    check_params,
    check_weights,
    compress,
    maximize_likelihood,
    no_fit,
    weighted_sum,
)

MODEL = "pareto_limit"
PARAM_NAMES = ("r", "alpha", "mu")
# Above this many repeat purchases the ladder of S (one row per distinct day, one column per
# order) would be large; such customers get a quadrature each instead.
_LADDER_TOP = 5000
# Cap on (distinct days) x (orders) per ladder: bounds memory (times continuous, not whole days).
_LADDER_CELLS = 1 << 21


def _S(r, x, t, at, alpha, mu, shift):
    """S(r + x + shift, mu (alpha + t)) and its derivatives in the order and in z, for each x (an array)
    and its day t[at] (t: the distinct days)."""
    z = mu * (alpha + t)
    if not (x.size and np.all(x == np.round(x)) and x.max() + shift <= _LADDER_TOP):
        return quadrature(r + x + shift, z[at])
    top = int(x.max()) + shift
    col = x.astype(np.int64) + shift
    days_per_block = max(1, _LADDER_CELLS // (top + 2))
    if z.size <= days_per_block:
        S, d_k, d_z = ladder(r, top, z)
        return S[at, col], d_k[at, col], d_z[at, col]
    out = [np.empty(x.shape) for _ in range(3)]   # many distinct days: a block of them at a time
    for first in range(0, z.size, days_per_block):
        rows = (at >= first) & (at < first + days_per_block)
        for target, part in zip(out, ladder(r, top, z[first:first + days_per_block]), strict=True):
            target[rows] = part[at[rows] - first, col[rows]]
    return tuple(out)


def _days(t):
    """The distinct days of t and where each element's is: S depends on the day only through z."""
    days, at = np.unique(t, return_inverse=True)
    return days, np.ravel(at)


def _log_terms(r, alpha, mu, x, t_x, T, index=None):
    """log of the bracket's two terms (died after t_x; alive at T) and their derivatives in (r, alpha, mu).

    x, t_x, T: 1-d arrays; index: (_days(t_x), _days(T)), if already known."""
    (tx_days, at_tx), (T_days, at_T) = index if index is not None else (_days(t_x), _days(T))
    k, a1, a2 = r + x, alpha + t_x, alpha + T
    S1, S1_k, S1_z = _S(r, x, tx_days, at_tx, alpha, mu, 0)
    S2, S2_k, S2_z = _S(r, x, T_days, at_T, alpha, mu, 1)
    log_a1, log_a2 = np.log(alpha + tx_days)[at_tx], np.log(alpha + T_days)[at_T]
    died = np.log(mu) - mu * t_x + (1.0 - k) * log_a1 + np.log(S1)
    alive = np.log(k) - mu * T - k * log_a2 + np.log(S2)
    d_died = (-log_a1 + S1_k / S1, (1.0 - k) / a1 + mu * S1_z / S1, 1.0 / mu - t_x + a1 * S1_z / S1)
    d_alive = (1.0 / k - log_a2 + S2_k / S2, -k / a2 + mu * S2_z / S2, -T + a2 * S2_z / S2)
    return died, alive, d_died, d_alive


def _flat(x, t_x, T):
    """The history as 1-d arrays, and the shape to give results back in."""
    x, t_x, T = check_history(x, t_x, T)
    return np.ravel(x), np.ravel(t_x), np.ravel(T), x.shape


def log_likelihood(params: dict, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood."""
    r, alpha, mu = check_params(params, PARAM_NAMES)
    x, t_x, T, shape = _flat(x, t_x, T)
    died, alive, _, _ = _log_terms(r, alpha, mu, x, t_x, T)
    return (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + np.logaddexp(died, alive)).reshape(shape)


def fit(x, t_x, T, weights=None, *, penalizer: float = 0.0) -> FitResult:
    """Maximum-likelihood fit of (r, alpha, mu). weights (optional) count each customer's row."""
    x, t_x, T = check_history(x, t_x, T)
    w = check_weights(weights, x.shape)
    (ux, utx, uT), uw = compress((x, t_x, T), w)
    repeat = uw[ux > 0].sum()
    if repeat == 0:
        return no_fit(MODEL, PARAM_NAMES, uw.sum(), 0, "no repeat purchases: nothing to fit")

    index = (_days(utx), _days(uT))
    xs, at_x = np.unique(ux, return_inverse=True)
    at_x = np.ravel(at_x)

    def total_and_gradient(p):
        r, alpha, mu = p["r"], p["alpha"], p["mu"]
        died, alive, d_died, d_alive = _log_terms(r, alpha, mu, ux, utx, uT, index)
        both = np.logaddexp(died, alive)
        w_died, w_alive = np.exp(died - both), np.exp(alive - both)
        d_r = ((digamma(r + xs) - digamma(r) + np.log(alpha))[at_x] + w_died * d_died[0]
               + w_alive * d_alive[0])
        d_alpha = r / alpha + w_died * d_died[1] + w_alive * d_alive[1]
        d_mu = w_died * d_died[2] + w_alive * d_alive[2]
        total = weighted_sum(uw, (gammaln(r + xs) - gammaln(r) + r * np.log(alpha))[at_x] + both)
        # d/d log(theta) = theta * d/d theta
        return total, np.array([r * weighted_sum(uw, d_r), alpha * weighted_sum(uw, d_alpha),
                                mu * weighted_sum(uw, d_mu)])

    return maximize_likelihood(MODEL, PARAM_NAMES, total_and_gradient, starts(ux, uT, uw), customers=uw.sum(),
                               repeat_customers=repeat, penalizer=penalizer)


def starts(x, T, w) -> list[dict]:
    """Starting points: purchase rates around the base's repeat rate, lifetimes around its mean age."""
    days = weighted_sum(w, T)
    rate = max(weighted_sum(w, x) / days if days > 0 else 0.0, 1.0 / (1.0 + float(np.max(T, initial=0.0))))
    mean_T = max(days / w.sum(), 1.0)
    return [{"r": 1.0, "alpha": 1.0 / rate, "mu": 1.0 / mean_T},
            {"r": 0.3, "alpha": 0.3 / rate, "mu": 4.0 / mean_T}]


def p_alive(params: dict, x, t_x, T) -> np.ndarray:
    """Probability that the customer is still alive at T."""
    r, alpha, mu = check_params(params, PARAM_NAMES)
    x, t_x, T, shape = _flat(x, t_x, T)
    died, alive, _, _ = _log_terms(r, alpha, mu, x, t_x, T)
    log_alive = -mu * T - (r + x) * np.log(alpha + T)
    return np.minimum(1.0, np.exp(log_alive - np.logaddexp(died, alive))).reshape(shape)


def _lifetime_within(mu, t):
    """(1 - e^(-mu t)) / mu: expected time alive within t days of a customer alive now."""
    return -np.expm1(-mu * t) / mu


def expected_purchases(params: dict, t, x, t_x, T) -> np.ndarray:
    """Expected transactions in (T, T + t] given the history; t broadcasts against the customers."""
    alive = p_alive(params, x, t_x, T)
    return expected_purchases_if_alive(params, t, x, T) * alive


def expected_purchases_if_alive(params: dict, t, x, T) -> np.ndarray:
    """Expected transactions in (T, T + t] of a customer known to be alive at T: (r+x)/(alpha+T) (1-e^(-mu t))/mu."""
    r, alpha, mu = check_params(params, PARAM_NAMES)
    x, _, T = check_history(x, 0.0, T)
    return (r + x) / (alpha + T) * _lifetime_within(mu, check_horizon(t))


def expected_purchases_new(params: dict, t) -> np.ndarray:
    """E[X(t)] = r/alpha (1 - e^(-mu t))/mu: repeat purchases in (0, t] of a customer who just made a first one."""
    r, alpha, mu = check_params(params, PARAM_NAMES)
    return r / alpha * _lifetime_within(mu, check_horizon(t))
