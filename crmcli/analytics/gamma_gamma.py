"""The Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005,
"RFM and CLV"; Fader & Hardie, "The Gamma-Gamma model of monetary value").

Each of a customer's transactions is worth Gamma(p, nu), and nu varies across
customers as Gamma(q, gamma). What is observed is m, the mean of the x repeat
transactions. Parameters are a dict with keys p, q, gamma.

The model assumes spend does not depend on how often a customer buys; it is
fitted on repeat buyers (x > 0) with a positive mean spend.
"""

from __future__ import annotations

import numpy as np
from scipy.special import digamma, gammaln

from crmcli.analytics.fitting import (
    FitResult,
    as_array,
    check_params,
    check_weights,
    compress,
    maximize_likelihood,
    no_fit,
    weighted_sum,
)

PARAM_NAMES = ("p", "q", "gamma")


def log_likelihood(params: dict, x, m) -> np.ndarray:
    """Per-customer log density of the observed mean spend m given x transactions (x > 0, m > 0)."""
    p, q, gamma = check_params(params, PARAM_NAMES)
    x, m = np.broadcast_arrays(as_array("x", x), as_array("m", m))
    if np.any(x <= 0) or np.any(m <= 0):
        raise ValueError("the spend likelihood needs x > 0 and m > 0")
    return _log_likelihood(p, q, gamma, x, m)


def _log_likelihood(p, q, gamma, x, m):
    px = p * x
    return (gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(gamma)
            + (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * np.log(gamma + m * x))


def fit(x, m, weights=None, *, penalizer: float = 0.0) -> FitResult:
    """Maximum-likelihood fit on the customers with x > 0 and m > 0 (others are ignored;
    for them m is usually undefined, and NaN is accepted)."""
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    x, m = np.broadcast_arrays(x, m)
    w = check_weights(weights, x.shape)
    used = np.isfinite(x) & np.isfinite(m) & (x > 0) & (m > 0)
    (ux, um), uw = compress((x[used], m[used]), w[used])

    def total(params):
        return weighted_sum(uw, _log_likelihood(params["p"], params["q"], params["gamma"], ux, um))

    def total_and_gradient(params):
        p, q, gamma = params["p"], params["q"], params["gamma"]
        px = p * ux
        log_spent = np.log(gamma + um * ux)
        shared = digamma(px + q)
        d_p = ux * (shared - digamma(px) + np.log(um) + np.log(ux) - log_spent)
        d_q = shared - digamma(q) + np.log(gamma) - log_spent
        d_gamma = q / gamma - (px + q) / (gamma + um * ux)
        # d/d log(theta) = theta * d/d theta
        gradient = np.array([p * weighted_sum(uw, d_p), q * weighted_sum(uw, d_q),
                             gamma * weighted_sum(uw, d_gamma)])
        return total(params), gradient

    if not uw.size:
        return no_fit("gamma_gamma", PARAM_NAMES, 0, 0, "no customer with a repeat purchase and a positive mean spend")
    mean_spend = weighted_sum(uw, um) / float(np.sum(uw))
    # Starts: p * gamma / (q - 1) (the population mean) set to the observed mean.
    starts = [
        {"p": 1.0, "q": 2.0, "gamma": mean_spend},
        {"p": 5.0, "q": 5.0, "gamma": 0.8 * mean_spend},
    ]
    return maximize_likelihood("gamma_gamma", PARAM_NAMES, total_and_gradient, starts, customers=uw.sum(),
                               repeat_customers=uw.sum(), penalizer=penalizer)


def expected_spend(params: dict, x, m) -> np.ndarray:
    """Expected spend per transaction, given x repeat transactions of mean m.

    For x > 0 it is the weighted average
        (q - 1)/(p x + q - 1) * population mean + p x/(p x + q - 1) * m,
    population mean = p gamma / (q - 1). For x == 0 (m is ignored) it is the
    population mean.

    When q <= 1 the model's population mean is infinite: there is no honest
    number for a customer without repeat purchases, so the result is NaN
    there (and for x > 0 where p x + q <= 1). Callers should say "not
    estimable" rather than substitute a figure.
    """
    p, q, gamma = check_params(params, PARAM_NAMES)
    x = as_array("x", x)
    m = np.asarray(m, dtype=float)
    x, m = np.broadcast_arrays(x, m)
    if np.any(x < 0):
        raise ValueError("x must be >= 0")
    repeat = x > 0
    if np.any(repeat & ~(np.isfinite(m) & (m >= 0))):
        raise ValueError("m must be a finite amount >= 0 where x > 0")
    denominator = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        conditional = (gamma + np.where(repeat, m, 0.0) * x) * p / denominator
    return np.where(denominator > 0, conditional, np.nan)
