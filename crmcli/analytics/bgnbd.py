"""The BG/NBD model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While active, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha);
after each repeat purchase she leaves for good with probability
p ~ Beta(a, b). Time is in days here, but any unit works: alpha scales with
the unit, r, a and b do not.

Per customer, as of a date: x = repeat transaction days, t_x = days from the
first to the last transaction, T = days from the first transaction to the
date. Parameters are a dict with keys r, alpha, a, b.

By the model's construction a customer with no repeat purchase has not had a
chance to leave, so P(alive) = 1 for every x == 0 customer; Pareto/NBD does
not have that blind spot.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betainc, betaln, digamma, expit, gammaln

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
from crmcli.analytics.hypergeometric import one_minus_power_over, sum_ratio_series

PARAM_NAMES = ("r", "alpha", "a", "b")
# Cap on (customers) x (terms) per block of the fallback sum: bounds memory.
_MAX_CELLS = 1 << 20


def log_likelihood(params: dict, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood (FHL 2005, eq. 6), in log space throughout."""
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    return _log_likelihood(r, alpha, a, b, x, t_x, T)


def _log_likelihood(r, alpha, a, b, x, t_x, T):
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    # Still active at T after x purchases ...
    survived = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    # ... or left right after the last purchase (impossible without one).
    with np.errstate(invalid="ignore", divide="ignore"):
        left = betaln(a + 1, b + x - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    left = np.where(x > 0, left, -np.inf)
    return common + np.logaddexp(survived, left)


def fit(x, t_x, T, weights=None, *, penalizer: float = 0.0) -> FitResult:
    """Maximum-likelihood fit. weights (optional) count each customer's row.

    Customers are first compressed to their distinct (x, t_x, T) rows.
    """
    x, t_x, T = check_history(x, t_x, T)
    w = check_weights(weights, x.shape)
    (ux, utx, uT), uw = compress((x, t_x, T), w)
    repeat = uw[ux > 0].sum()
    if repeat == 0:
        return no_fit("bgnbd", PARAM_NAMES, uw.sum(), 0, "no repeat purchases: nothing to fit")
    # The special functions depend on x alone and the logs on T or t_x alone:
    # computed once per distinct value, then gathered for the rows.
    xs, at_x = np.unique(ux, return_inverse=True)
    Ts, at_T = np.unique(uT, return_inverse=True)
    txs, at_tx = np.unique(utx, return_inverse=True)

    def parts(p):
        """Per-row log-likelihood pieces: the common term and the two branches."""
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        common = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            leave = np.where(xs > 0, betaln(a + 1, b + xs - 1), -np.inf)
        power = r + ux
        survived = betaln(a, b + xs)[at_x] - power * np.log(alpha + Ts)[at_T]
        left = leave[at_x] - power * np.log(alpha + txs)[at_tx]
        return common[at_x], survived, left

    def total_and_gradient(p):
        r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
        common, survived, left = parts(p)
        both = np.logaddexp(survived, left)
        # Each branch's share of the customer's likelihood.
        w_stay, w_left = np.exp(survived - both), np.exp(left - both)
        log_T, log_tx = np.log(alpha + Ts)[at_T], np.log(alpha + txs)[at_tx]
        psi_abx = digamma(a + b + xs)
        with np.errstate(invalid="ignore"):
            psi_bx1 = np.where(xs > 0, digamma(b + xs - 1), 0.0)
        d_r = (digamma(r + xs) - digamma(r) + np.log(alpha))[at_x] - w_stay * log_T - w_left * log_tx
        d_alpha = r / alpha - (r + ux) * (w_stay / (alpha + Ts)[at_T] + w_left / (alpha + txs)[at_tx])
        d_a = (digamma(a + b) - digamma(a) + w_stay * (digamma(a) - psi_abx)[at_x]
               + w_left * (digamma(a + 1) - psi_abx)[at_x])
        d_b = (digamma(a + b) - digamma(b) + w_stay * (digamma(b + xs) - psi_abx)[at_x]
               + w_left * (psi_bx1 - psi_abx)[at_x])
        # d/d log(theta) = theta * d/d theta
        grad = np.array([r * weighted_sum(uw, d_r), alpha * weighted_sum(uw, d_alpha),
                         a * weighted_sum(uw, d_a), b * weighted_sum(uw, d_b)])
        return weighted_sum(uw, common + both), grad

    rate = _repeat_rate(ux, uT, uw)
    starts = [
        {"r": 1.0, "alpha": 1.0 / rate, "a": 1.0, "b": 1.0},
        {"r": 0.3, "alpha": 0.3 / rate, "a": 0.5, "b": 3.0},
    ]
    return maximize_likelihood("bgnbd", PARAM_NAMES, total_and_gradient, starts, customers=uw.sum(),
                               repeat_customers=repeat, penalizer=penalizer)


def _repeat_rate(x, T, w):
    """Repeat purchases per day over the base: sets the scale of the start for alpha."""
    days = weighted_sum(w, T)
    rate = weighted_sum(w, x) / days if days > 0 else 0.0
    return max(rate, 1.0 / (1.0 + float(np.max(T, initial=0.0))))


def p_alive(params: dict, x, t_x, T) -> np.ndarray:
    """Probability that the customer is still active at T (FHL 2005, eq. 11)."""
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    return _p_alive(r, alpha, a, b, x, t_x, T)


def _p_alive(r, alpha, a, b, x, t_x, T):
    # 1 / (1 + odds of having left), the odds computed in logs.
    with np.errstate(divide="ignore", invalid="ignore"):
        log_odds = np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(x > 0, expit(-log_odds), 1.0)


def expected_purchases(params: dict, t, x, t_x, T) -> np.ndarray:
    """Expected number of transactions in (T, T + t] given the history (FHL 2005, eq. 10).

    The paper's expression is
        (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
                              * 2F1(r+x, b+x; a+b+x-1; z)] * P(alive),
        z = t / (alpha+T+t).
    That 2F1 is hard exactly where it matters: its series needs about
    x z / (1-z) terms before it even starts shrinking. Euler's transformation
    2F1(A, B; C; z) = (1-z)^(C-A-B) 2F1(C-A, C-B; C; z) turns the bracket into
        1 - (1-z)^(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z),
    whose series converges fast for large x. Taking the factor (a-1) out of
    its terms also removes the 0/0 of the paper's form at a = 1. Where that
    series cancels badly instead (r well above a + b - 1, very regular
    buyers), the same expectation is summed as positive terms
    (_expected_if_active_by_survival).
    t broadcasts against the customers (e.g. shape (k, 1) for k horizons).
    """
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    alive = _p_alive(r, alpha, a, b, x, t_x, T)
    t, x, T = np.broadcast_arrays(check_horizon(t), x, T)
    return _conditional_expectation(r, alpha, a, b, t, x, T) * alive


def expected_purchases_if_alive(params: dict, t, x, T) -> np.ndarray:
    """Expected transactions in (T, T + t] of a customer known to be still active at T.

    expected_purchases is this times p_alive; it depends on the history only
    through x and T, which is what lets CLV compute it once per (x, T).
    """
    r, alpha, a, b = check_params(params, PARAM_NAMES)
    x, _, T = check_history(x, 0.0, T)
    t, x, T = np.broadcast_arrays(check_horizon(t), x, T)
    return _conditional_expectation(r, alpha, a, b, t, x, T)


def _conditional_expectation(r, alpha, a, b, t, x, T):
    """E[purchases in (T, T+t]] for a customer known to be active at T."""
    z = t / (alpha + T + t)
    log_1mz = -np.log1p(t / (alpha + T))  # log(1 - z), accurate for small z
    c = a + b + x - 1.0  # > -1 always
    d = a + b - 1.0 - r
    # 2F1(d, a-1; c; z) = 1 + (a-1) * (d z / c) * G, G = sum_j g_j with g_0 = 1 and
    # g_{j+1}/g_j = z (d+1+j)(a+j) / ((c+1+j)(2+j)). Multiplying through by c
    # keeps c = 0 (x = 0, a + b = 1) harmless.
    with np.errstate(over="ignore", invalid="ignore"):
        g = sum_ratio_series(1.0, [d + 1.0, a], [c + 1.0, 2.0], z)
        first = c * one_minus_power_over(a - 1.0, log_1mz)
        second = np.exp((a - 1.0) * log_1mz) * d * z
        value = first - second * g.total
        # When r is well above a + b - 1, d is very negative and G's terms
        # alternate with large sizes: the cancellation is measured, and where it
        # may have cost more than about 5 digits the value is recomputed another way.
        noise = 64 * np.finfo(float).eps * (np.abs(first) + np.abs(second) * g.abs_total)
        lost = (z > 0) & ~(np.isfinite(value) & (noise <= 1e-10 * np.abs(value)))
    if np.any(lost):
        value = np.array(value, dtype=float)
        value[lost] = _expected_if_active_by_survival(a, b, (r + x)[lost], (b + x)[lost], z[lost])
    return value


def _expected_if_active_by_survival(a, b, k, beta, z, rtol=1e-13, max_terms=1 << 22):
    """The same expectation as a sum of positive terms, for where the 2F1 series cancels.

    A customer active for ever would make N ~ NegBin(k = r+x, z) purchases in
    the t days (Poisson with a gamma-distributed rate); she actually makes the
    (j+1)-th only if she survived the j before it, with probability
    s_j = (b+x)_j / (a+b+x)_j. So
        E = sum_{j>=0} s_j P(N > j),   P(N > j) = I_z(j+1, k)
    (regularised incomplete beta). No term is negative and nothing is divided
    by a - 1; it needs about E[N] = k z / (1-z) terms, which is why it is the
    fallback and not the rule. s_j falls with j, so once the terms summed
    cover all but m of E[N] = sum_j P(N > j), the rest is at most s_j * m.
    Past max_terms (some three million purchases expected in the horizon,
    far beyond any customer base) the sum is cut short: an underestimate.
    """
    total = np.zeros(k.shape)
    covered = np.zeros(k.shape)  # sum of P(N > j) so far
    mean = k * z / (1.0 - z)
    idx = np.arange(k.size)
    j0, width = 0, 64
    while idx.size and j0 < max_terms:
        j = j0 + np.arange(width, dtype=float)
        bb = beta[idx][:, None]
        log_s = gammaln(bb + j) - gammaln(bb) - gammaln(a + bb + j) + gammaln(a + bb)
        beyond = betainc(j + 1.0, k[idx][:, None], z[idx][:, None])
        total[idx] += np.sum(np.exp(log_s) * beyond, axis=1)
        covered[idx] += beyond.sum(axis=1)
        j0 += width
        s_next = np.exp(log_s[:, -1]) * (beta[idx] + j0 - 1.0) / (a + beta[idx] + j0 - 1.0)
        rest = s_next * np.maximum(mean[idx] - covered[idx], 0.0)
        idx = idx[rest > rtol * total[idx]]
        width = min(2 * width, max(64, _MAX_CELLS // max(idx.size, 1)))
    return total


def expected_purchases_new(params: dict, t) -> np.ndarray:
    """E[X(t)]: expected repeat transactions in (0, t] of a customer who just made a first purchase.

    The same expression as expected_purchases with x = t_x = T = 0 (P(alive) = 1).
    """
    return expected_purchases(params, t, 0.0, 0.0, 0.0)
