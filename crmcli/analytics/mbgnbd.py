"""The MBG/NBD model (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of
models for customer base analysis", IJRM 24: the "modified BG/NBD").

As BG/NBD (bgnbd.py): while active, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha), and
after a purchase she leaves for good with probability p ~ Beta(a, b). The one change: the chance to
leave comes after every purchase, the first one included, so a customer who never came back may
have left right after her first purchase. BG/NBD calls every one-time buyer certainly alive;
MBG/NBD does not, and her P(alive) falls as her silence lengthens.

Per customer (x repeat purchases, the last at t_x, observed for T days), the individual likelihood
is (1-p)^(x+1) lambda^x e^(-lambda T) (still active after x+1 chances to leave) plus
p (1-p)^x lambda^x e^(-lambda t_x) (left right after the last purchase; for x = 0 right after the
first, t_x = 0). Integrated over lambda and p:

    L = Gamma(r+x) alpha^r / Gamma(r) * [ B(a, b+x+1) (alpha+T)^-(r+x) + B(a+1, b+x) (alpha+t_x)^-(r+x) ] / B(a, b)

(the paper's eq. with B(a+1, b+x) / B(a, b+x+1) = a / (b+x)), and

    P(alive) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x)).

Given alive at T after x repeat purchases, p's posterior is Beta(a, b+x+1): the future is BG/NBD's
with b + 1 in place of b, so E[purchases in (T, T+t] | alive] is bgnbd's conditional expectation at
b + 1, (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))],
and a new customer is still active after her first purchase with probability b/(a+b):
E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))].
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln

# bgnbd's expectation of a customer known to be active, computed without cancellation (see there);
# MBG/NBD's is the same at b + 1.
from crmcli.analytics.bgnbd import _conditional_expectation as _bgnbd_if_active
from crmcli.analytics.bgnbd import _repeat_rate
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

MODEL = "mbgnbd"
PARAM_NAMES = ("r", "alpha", "a", "b")


def log_likelihood(params: dict, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood, in log space throughout."""
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    survived = betaln(a, b + x + 1) - (r + x) * np.log(alpha + T)
    left = betaln(a + 1, b + x) - (r + x) * np.log(alpha + t_x)
    return common + np.logaddexp(survived, left)


def fit(x, t_x, T, weights=None, *, penalizer: float = 0.0) -> FitResult:
    """Maximum-likelihood fit. weights (optional) count each customer's row.

    Unlike BG/NBD, customers with no repeat purchase inform p too (they may have left), so a base
    with no repeat purchase at all still has nothing to fit lambda's spread to: no fit then either.
    """
    x, t_x, T = check_history(x, t_x, T)
    w = check_weights(weights, x.shape)
    (ux, utx, uT), uw = compress((x, t_x, T), w)
    repeat = uw[ux > 0].sum()
    if repeat == 0:
        return no_fit(MODEL, PARAM_NAMES, uw.sum(), 0, "no repeat purchases: nothing to fit")
    xs, at_x = np.unique(ux, return_inverse=True)
    Ts, at_T = np.unique(uT, return_inverse=True)
    txs, at_tx = np.unique(utx, return_inverse=True)
    at_x, at_T, at_tx = np.ravel(at_x), np.ravel(at_T), np.ravel(at_tx)

    def total_and_gradient(p):
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        power = r + ux
        log_T, log_tx = np.log(alpha + Ts)[at_T], np.log(alpha + txs)[at_tx]
        survived = betaln(a, b + xs + 1)[at_x] - power * log_T
        left = betaln(a + 1, b + xs)[at_x] - power * log_tx
        both = np.logaddexp(survived, left)
        common = (gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - betaln(a, b))[at_x]
        # Each branch's share of the customer's likelihood weighs its derivatives.
        w_stay, w_left = np.exp(survived - both), np.exp(left - both)
        psi_all = digamma(a + b + xs + 1)
        d_r = (digamma(r + xs) - digamma(r) + np.log(alpha))[at_x] - w_stay * log_T - w_left * log_tx
        d_alpha = r / alpha - power * (w_stay / (alpha + Ts)[at_T] + w_left / (alpha + txs)[at_tx])
        d_a = (digamma(a + b) - digamma(a) + w_stay * (digamma(a) - psi_all)[at_x]
               + w_left * (digamma(a + 1) - psi_all)[at_x])
        d_b = (digamma(a + b) - digamma(b) + w_stay * (digamma(b + xs + 1) - psi_all)[at_x]
               + w_left * (digamma(b + xs) - psi_all)[at_x])
        # d/d log(theta) = theta * d/d theta
        grad = np.array([r * weighted_sum(uw, d_r), alpha * weighted_sum(uw, d_alpha),
                         a * weighted_sum(uw, d_a), b * weighted_sum(uw, d_b)])
        return weighted_sum(uw, common + both), grad

    rate = _repeat_rate(ux, uT, uw)
    starts = [
        {"r": 1.0, "alpha": 1.0 / rate, "a": 1.0, "b": 1.0},
        {"r": 0.3, "alpha": 0.3 / rate, "a": 0.5, "b": 3.0},
    ]
    return maximize_likelihood(MODEL, PARAM_NAMES, total_and_gradient, starts, customers=uw.sum(),
                               repeat_customers=repeat, penalizer=penalizer)


def p_alive(params: dict, x, t_x, T) -> np.ndarray:
    """Probability that the customer is still active at T: 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))."""
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return expit(-log_odds)


def expected_purchases(params: dict, t, x, t_x, T) -> np.ndarray:
    """Expected number of transactions in (T, T + t] given the history; t broadcasts against the customers."""
    alive = p_alive(params, x, t_x, T)
    return expected_purchases_if_alive(params, t, x, T) * alive


def expected_purchases_if_alive(params: dict, t, x, T) -> np.ndarray:
    """Expected transactions in (T, T + t] of a customer known to be still active at T."""
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, _, T = check_history(x, 0.0, T)
    t, x, T = np.broadcast_arrays(check_horizon(t), x, T)
    return _bgnbd_if_active(r, alpha, a, b + 1.0, t, x, T)


def expected_purchases_new(params: dict, t) -> np.ndarray:
    """E[X(t)]: expected repeat transactions in (0, t] of a customer who just made a first purchase
    (still active after it with probability b / (a+b))."""
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    t = check_horizon(t)
    zero = np.zeros(t.shape)
    return b / (a + b) * _bgnbd_if_active(r, alpha, a, b + 1.0, t, zero, zero)
