"""The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987).

While alive, a customer buys at a Poisson rate lambda ~ Gamma(r, alpha); she
stays alive for an exponential lifetime with rate mu ~ Gamma(s, beta),
unobserved. Unlike BG/NBD, a customer who never came back can have died, so
P(alive) falls with silence for x == 0 too: this is the model for churn.

Per customer, as of a date: x = repeat transaction days, t_x = days from the
first to the last transaction, T = days from the first transaction to the
date. Parameters are a dict with keys r, alpha, s, beta.

The likelihood (Fader & Hardie 2005, "A note on deriving the Pareto/NBD model
and related expressions") is usually written with a difference of two 2F1
terms, which cancels badly when t_x is close to T. Integrating by parts turns
it into a sum of two positive terms instead:

    L = Gamma(r+x) alpha^r beta^s / Gamma(r) * [ s I(t_x; r+x, s+1) + (r+x) I(T; r+x+1, s) ]

    I(t; k, m) = integral from t to infinity of (alpha+u)^-k (beta+u)^-m du

and the same bracket gives P(alive) = (alpha+T)^-(r+x) (beta+T)^-s / bracket.
Each I is a 2F1 in z = |alpha-beta| / (max(alpha,beta) + t), taken on the
larger of alpha and beta so that 0 <= z < 1 (the alpha >= beta / alpha < beta
split of the note), and summed after Euler's transformation as a series of
positive terms (see hypergeometric.py). That series needs about 35 / (1-z)
terms: where z is close to 1 (a fit drifting towards beta -> infinity puts
most customers at 1 - z ~ 1e-4) I is computed by quadrature instead, at a
cost that does not depend on the parameters (see power_integral.py).
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from crmcli.analytics import pareto_limit, ridge
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
from crmcli.analytics.hypergeometric import (
    log_hyp2f1_unit,
    log_hyp2f1_unit_with_gradient,
    one_minus_power_over,
)
from crmcli.analytics.power_integral import log_power_integral

PARAM_NAMES = ("r", "alpha", "s", "beta")

# Up to this z the series is summed (at most about 700 terms, usually a few dozen);
# beyond it, the quadrature (a few hundred nodes whatever the parameters) is cheaper.
_SERIES_UP_TO = 0.95


def _by_method(series, alpha, beta, k, m, t, gradient):
    """I(t; k, m)'s log (and gradient, see _log_tail_integral_with_gradient): by `series`
    where z <= _SERIES_UP_TO, by quadrature elsewhere."""
    alpha, beta, k, m, t = np.broadcast_arrays(*(np.asarray(p, dtype=float) for p in (alpha, beta, k, m, t)))
    z = np.abs(alpha - beta) / (np.maximum(alpha, beta) + t)
    near_one = z > _SERIES_UP_TO
    if not near_one.any():
        return series(alpha, beta, k, m, t)
    outputs = [np.empty(alpha.shape) for _ in range(5 if gradient else 1)]
    summed = ~near_one
    if summed.any():
        results = series(alpha[summed], beta[summed], k[summed], m[summed], t[summed])
        for out, value in zip(outputs, results if gradient else (results,), strict=True):
            out[summed] = value
    # I(t; k, m) = int_0^inf (alpha+t+v)^-k (beta+t+v)^-m dv: the quadrature's a and b are
    # alpha + t and beta + t, so its derivatives in a and b are those in alpha and beta.
    results = log_power_integral(alpha[near_one] + t[near_one], beta[near_one] + t[near_one],
                                 k[near_one], m[near_one], gradient=gradient)
    for out, value in zip(outputs, results if gradient else (results,), strict=True):
        out[near_one] = value
    return tuple(outputs) if gradient else outputs[0]


def _tail_integral_setup(alpha, beta, k, m, t):
    """The pieces of the 2F1 form of I(t; k, m) below, taken on the larger of alpha and beta."""
    alpha_larger = alpha >= beta
    larger = np.where(alpha_larger, alpha, beta)
    e_small = np.where(alpha_larger, m, k)
    e_large = np.where(alpha_larger, k, m)
    a_sum = k + m - 1.0
    z = np.abs(alpha - beta) / (larger + t)
    return alpha_larger, larger, e_small, e_large, a_sum, z


def _log_tail_integral(alpha, beta, k, m, t):
    """log I(t; k, m), I = integral_t^inf (alpha+u)^-k (beta+u)^-m du, with k, m > 0, k + m > 1."""
    return _by_method(_log_tail_integral_series, alpha, beta, k, m, t, gradient=False)


def _log_tail_integral_with_gradient(alpha, beta, k, m, t):
    """log I(t; k, m) and its derivatives in alpha, beta, k and m (for fitting)."""
    return _by_method(_log_tail_integral_series_with_gradient, alpha, beta, k, m, t, gradient=True)


def _log_tail_integral_series(alpha, beta, k, m, t):
    """log I(t; k, m) by its 2F1 series.

    With A = k + m - 1, the larger base M = max(alpha, beta) and the exponent
    e of the smaller one, substituting w = |alpha-beta| / (M+u) gives
        I = (M+t)^-A / A * 2F1(A, e; A+1; z)
          = (M+t)^-A / A * (1-z)^(1-e) * 2F1(1, A+1-e; A+1; z)      (Euler)
    and the last 2F1 has positive terms with ratio below z.
    """
    _, larger, e_small, e_large, a_sum, z = _tail_integral_setup(alpha, beta, k, m, t)
    return (-a_sum * np.log(larger + t) - np.log(a_sum) + (1.0 - e_small) * np.log1p(-z)
            + log_hyp2f1_unit(e_large, a_sum + 1.0, z))


def _log_tail_integral_series_with_gradient(alpha, beta, k, m, t):
    """log I(t; k, m) and its derivatives in alpha, beta, k and m, by the 2F1 series."""
    alpha_larger, larger, e_small, e_large, a_sum, z = _tail_integral_setup(alpha, beta, k, m, t)
    log_f, df_db, df_dc, df_dz = log_hyp2f1_unit_with_gradient(e_large, a_sum + 1.0, z)
    log_1mz = np.log1p(-z)
    value = -a_sum * np.log(larger + t) - np.log(a_sum) + (1.0 - e_small) * log_1mz + log_f
    # k and m both enter through A (and c = A + 1); each is also e_large or e_small.
    through_a = -np.log(larger + t) - 1.0 / a_sum + df_dc
    d_k = through_a + np.where(alpha_larger, df_db, -log_1mz)
    d_m = through_a + np.where(alpha_larger, -log_1mz, df_db)
    # alpha and beta enter through z = |alpha-beta|/(M+t), and through M = the larger one.
    d_z = -(1.0 - e_small) / (1.0 - z) + df_dz
    smaller_plus_t = np.where(alpha_larger, beta, alpha) + t
    dz_dlarger = smaller_plus_t / (larger + t) ** 2
    dz_dsmaller = -1.0 / (larger + t)
    d_larger = -a_sum / (larger + t) + d_z * dz_dlarger
    d_smaller = d_z * dz_dsmaller
    d_alpha = np.where(alpha_larger, d_larger, d_smaller)
    d_beta = np.where(alpha_larger, d_smaller, d_larger)
    return value, d_alpha, d_beta, d_k, d_m


def _log_bracket(r, alpha, s, beta, x, t_x, T):
    """log of s I(t_x; r+x, s+1) + (r+x) I(T; r+x+1, s): the likelihood without its constant."""
    died = np.log(s) + _log_tail_integral(alpha, beta, r + x, s + 1.0, t_x)
    alive_or_died_after_T = np.log(r + x) + _log_tail_integral(alpha, beta, r + x + 1.0, s, T)
    return np.logaddexp(died, alive_or_died_after_T)


def log_likelihood(params: dict, x, t_x, T) -> np.ndarray:
    """Per-customer log-likelihood, in log space throughout."""
    if is_limit(params):
        return pareto_limit.log_likelihood(params, x, t_x, T)
    r, alpha, s, beta = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    return _log_likelihood(r, alpha, s, beta, x, t_x, T)


def _log_likelihood(r, alpha, s, beta, x, t_x, T):
    return (gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            + _log_bracket(r, alpha, s, beta, x, t_x, T))


def fit(x, t_x, T, weights=None, *, penalizer: float = 0.0) -> FitResult:
    """Maximum-likelihood fit. weights (optional) count each customer's row.

    Where the likelihood rises along s, beta -> infinity (one drop-out rate for everyone), the
    result is the limit model's fit instead: params (r, alpha, mu), see ridge.py and is_limit. Every
    function of this module takes either kind of parameters.

    Customers are compressed to their distinct (x, t_x, T) rows; the two
    integrals are then computed once per distinct (x, t_x) and (x, T) pair,
    since each depends on only one of the two times.
    """
    x, t_x, T = check_history(x, t_x, T)
    w = check_weights(weights, x.shape)
    (ux, utx, uT), uw = compress((x, t_x, T), w)
    pairs_tx, at_tx = np.unique(np.column_stack([ux, utx]), axis=0, return_inverse=True)
    pairs_T, at_T = np.unique(np.column_stack([ux, uT]), axis=0, return_inverse=True)
    at_tx, at_T = np.ravel(at_tx), np.ravel(at_T)
    xs, at_x = np.unique(ux, return_inverse=True)

    def total_and_gradient(p):
        r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
        i1, i1_alpha, i1_beta, i1_k, i1_m = _log_tail_integral_with_gradient(
            alpha, beta, pairs_tx[:, 0] + r, s + 1.0, pairs_tx[:, 1])
        i2, i2_alpha, i2_beta, i2_k, i2_m = _log_tail_integral_with_gradient(
            alpha, beta, pairs_T[:, 0] + r + 1.0, s, pairs_T[:, 1])
        died = (np.log(s) + i1)[at_tx]
        later = (np.log(pairs_T[:, 0] + r) + i2)[at_T]
        bracket = np.logaddexp(died, later)
        # Each term's share of the bracket weighs its derivatives.
        w_died, w_later = np.exp(died - bracket), np.exp(later - bracket)
        d_r = ((digamma(r + xs) - digamma(r) + np.log(alpha))[at_x] + w_died * i1_k[at_tx]
               + w_later * (1.0 / (pairs_T[:, 0] + r) + i2_k)[at_T])
        d_s = np.log(beta) + w_died * (1.0 / s + i1_m[at_tx]) + w_later * i2_m[at_T]
        d_alpha = r / alpha + w_died * i1_alpha[at_tx] + w_later * i2_alpha[at_T]
        d_beta = s / beta + w_died * i1_beta[at_tx] + w_later * i2_beta[at_T]
        constant = gammaln(r + xs) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        # d/d log(theta) = theta * d/d theta
        gradient = np.array([r * weighted_sum(uw, d_r), alpha * weighted_sum(uw, d_alpha),
                             s * weighted_sum(uw, d_s), beta * weighted_sum(uw, d_beta)])
        return weighted_sum(uw, constant[at_x] + bracket), gradient

    repeat = uw[ux > 0].sum()
    if repeat == 0:
        return no_fit("pareto", PARAM_NAMES, uw.sum(), 0, "no repeat purchases: nothing to fit")
    times = np.concatenate([pairs_tx[:, 1], pairs_T[:, 1]])  # each integral's t, once per distinct pair
    watch = ridge.RidgeWatch(lambda: pareto_limit.fit(ux, utx, uT, uw, penalizer=penalizer),
                             budget=ridge.WORK_BUDGET, work=lambda p: evaluation_work(p["alpha"], p["beta"], times))
    try:
        result = maximize_likelihood("pareto", PARAM_NAMES, watch.watch(total_and_gradient), _starts(ux, uT, uw),
                                     customers=uw.sum(), repeat_customers=repeat, penalizer=penalizer)
    except ridge.OnRidge:
        return watch.as_limit("pareto", "s and beta ran off together without beating it")
    except ridge.OutOfBudget:
        result = watch.out_of_budget("pareto", PARAM_NAMES, uw.sum(), repeat)
    if not result.converged and watch.limit_is_as_good(result.log_likelihood):
        return watch.as_limit("pareto", f"the four-parameter fit did not converge ({result.message})",
                              result.iterations)
    return result


def evaluation_work(alpha: float, beta: float, times: np.ndarray) -> float:
    """What one likelihood evaluation at (alpha, beta) costs, relative to one with short series: the mean
    over the integrals' times t of 1 / (1 - z), z = |alpha - beta| / (max(alpha, beta) + t), as the series
    needs about 35 / (1 - z) terms (at most 20 times the shortest, at z = 0.95), and 10 where the
    quadrature takes over (a few hundred nodes, see _by_method). Measured at 100,000 customers it
    follows the time of an evaluation within a factor of 2 from 0.05 s to 0.9 s (ridge.py)."""
    z = np.abs(alpha - beta) / (max(alpha, beta) + times)
    return float(np.mean(np.where(z > _SERIES_UP_TO, 10.0, 1.0 / (1.0 - np.minimum(z, _SERIES_UP_TO)))))


def _starts(x, T, w) -> list[dict]:
    days = weighted_sum(w, T)
    rate = max(weighted_sum(w, x) / days if days > 0 else 0.0, 1.0 / (1.0 + float(np.max(T, initial=0.0))))
    mean_T = max(days / w.sum(), 1.0)
    return [
        {"r": 1.0, "alpha": 1.0 / rate, "s": 1.0, "beta": mean_T},
        {"r": 0.3, "alpha": 0.3 / rate, "s": 0.5, "beta": 0.25 * mean_T},
    ]


def is_limit(params: dict) -> bool:
    """Whether `params` are the homogeneous drop-out limit's (r, alpha, mu) rather than (r, alpha, s, beta)."""
    return "mu" in params and "s" not in params


def model_name(params: dict) -> str:
    """"pareto" or "pareto_limit" (the homogeneous drop-out limit), for a fit's parameters."""
    return pareto_limit.MODEL if is_limit(params) else "pareto"


def p_alive(params: dict, x, t_x, T) -> np.ndarray:
    """Probability that the customer is still alive at T."""
    if is_limit(params):
        return pareto_limit.p_alive(params, x, t_x, T)
    r, alpha, s, beta = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    return _p_alive(r, alpha, s, beta, x, t_x, T)


def _p_alive(r, alpha, s, beta, x, t_x, T):
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    return np.minimum(1.0, np.exp(log_alive - _log_bracket(r, alpha, s, beta, x, t_x, T)))


def expected_purchases(params: dict, t, x, t_x, T) -> np.ndarray:
    """Expected number of transactions in (T, T + t] given the history.

        (r+x)(beta+T) / ((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive)

    with the limit (r+x)(beta+T)/(alpha+T) * log((beta+T+t)/(beta+T)) at s = 1.
    t broadcasts against the customers (e.g. shape (k, 1) for k horizons).
    """
    if is_limit(params):
        return pareto_limit.expected_purchases(params, t, x, t_x, T)
    r, alpha, s, beta = check_params(params, PARAM_NAMES)
    x, t_x, T = check_history(x, t_x, T)
    # P(alive) costs a series per customer: computed once, not once per horizon.
    alive = _p_alive(r, alpha, s, beta, x, t_x, T)
    return _conditional_expectation(r, alpha, s, beta, check_horizon(t), x, T) * alive


def expected_purchases_if_alive(params: dict, t, x, T) -> np.ndarray:
    """Expected transactions in (T, T + t] of a customer known to be still alive at T.

    expected_purchases is this times p_alive; it depends on the history only
    through x and T.
    """
    if is_limit(params):
        return pareto_limit.expected_purchases_if_alive(params, t, x, T)
    r, alpha, s, beta = check_params(params, PARAM_NAMES)
    x, _, T = check_history(x, 0.0, T)
    return _conditional_expectation(r, alpha, s, beta, check_horizon(t), x, T)


def _conditional_expectation(r, alpha, s, beta, t, x, T):
    """E[purchases in (T, T+t]] for a customer known to be alive at T."""
    log_base = -np.log1p(t / (beta + T))  # log((beta+T)/(beta+T+t))
    return (r + x) * (beta + T) / (alpha + T) * one_minus_power_over(s - 1.0, log_base)


def expected_purchases_new(params: dict, t) -> np.ndarray:
    """E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]: repeat purchases in (0, t]
    of a customer who just made a first purchase."""
    if is_limit(params):
        return pareto_limit.expected_purchases_new(params, t)
    r, alpha, s, beta = check_params(params, PARAM_NAMES)
    return _conditional_expectation(r, alpha, s, beta, check_horizon(t), 0.0, 0.0)
