"""I(a, b; k, m) = integral from 0 to infinity of (a+v)^-k (b+v)^-m dv, by quadrature.

This is the Euler integral of a Gauss hypergeometric function: with the larger
base L, the smaller S and z = (L-S)/L,

    I = L^-(k+m-1) / (k+m-1) * 2F1(k+m-1, e; k+m; z)   (e: the exponent of S)

and Pareto/NBD's likelihood is made of two of them (see pareto.py). Summed as a
series (hypergeometric.py), it needs about 35 / (1 - z) terms, which is a few
dozen for most customers but hundreds of thousands when L is huge: the fit
drifting towards beta -> infinity (every customer with the same drop-out rate)
needed about 1e5 terms per customer and per evaluation, so a fit took 15-50 s.
The connection formula to 1 - z (Abramowitz & Stegun 15.3.6) would be fast
there, but it is singular whenever e is an integer (r + x with r = 1, say) and
its series in 1 - z grows like (m (1-z))^n / n! before it shrinks.

scipy.integrate.quad would be accurate, but it integrates one (a, b, k, m) per
Python call, adaptively: one call per customer and per likelihood evaluation, and
a fit makes dozens of evaluations. Written here by hand, the rule below runs on all
customers at once as numpy arrays (quad stays, as the tests' reference).

The integral itself has none of these troubles. In w = log v the integrand
g(e^w) e^w is log-concave (one peak; its log has second derivative
-k a v / (a+v)^2 - m b v / (b+v)^2 < 0), analytic except at w = log a +- i pi
and log b +- i pi, and within |Im w| < pi/2 no larger than about its peak, so
the trapezoidal rule's error falls like exp(-pi^2 / h). At h = 0.3 it agrees
with scipy's quad to about 1e-15 (relative) for a, b from 1e-7 to 7e6 and k, m
from 1e-7 to 7e6 (tests/analytics/test_power_integral.py). The integrand falls
to e^-40 of its integral within some tens of units of w on the left; on the
right it may fall only like v^-(k+m-1), too slowly to truncate when k + m - 1
is small. So the rule integrates g - M, with M(v) = (c+v)^-(k+m) and
c = (k a + m b) / (k+m), whose integral c^-(k+m-1) / (k+m-1) is exact: c
matches g's 1/v term, so g - M falls like v^-(k+m+2); and by the weighted
AM-GM inequality (c+v)^(k+m) >= (a+v)^k (b+v)^m, so g >= M and
I = (exact part) + (a rule over a positive integrand), with no cancellation.

Derivatives (for fitting) come from the same nodes: d/da log I = -k int g/(a+v) / I,
d/dk log I = -int log(a+v) g / I (and the same in b, m), the latter also with
M subtracted (int log(c+v) M = c^-(k+m-1) (log c + 1/(k+m-1)) / (k+m-1)).

The cost does not depend on the parameters: a few hundred nodes per (a, b, k, m).
"""

from __future__ import annotations

import numpy as np

# Trapezoidal step in w = log v. The error falls like exp(-pi^2 / h): 5e-15 at 0.3.
_STEP = 0.3
# The window keeps every node where the integrand is above e^-40 of (a lower bound
# on) the integral, so what lies outside is below 1e-17 of it.
_MARGIN = 40.0
# Bisection steps: the peak to 1e-7 in w (from a bracket a few hundred wide), the
# window's edges to within about 1e-3 (from at most a few thousand).
_PEAK_STEPS = 32
_EDGE_STEPS = 22
# Cap on (integrals in one batch) x (nodes): bounds memory.
_MAX_CELLS = 1 << 20


def log_power_integral(a, b, k, m, *, gradient: bool = False):
    """log I(a, b; k, m) for a, b > 0, k, m > 0, k + m > 1, vectorised (arrays broadcast).

    With gradient=True, returns (log I, d/da, d/db, d/dk, d/dm of log I).
    """
    a, b, k, m = np.broadcast_arrays(*(np.asarray(p, dtype=float) for p in (a, b, k, m)))
    shape = a.shape
    a, b, k, m = (np.ravel(p) for p in (a, b, k, m))
    n_out = 5 if gradient else 1
    out = [np.empty(a.size) for _ in range(n_out)]
    if a.size:
        w_left, w_right = _window(a, b, k, m)
        nodes = int(np.ceil(np.max(w_right - w_left) / _STEP)) + 1
        rows = max(1, _MAX_CELLS // nodes)
        for start in range(0, a.size, rows):
            part = slice(start, start + rows)
            results = _integrate(a[part], b[part], k[part], m[part], w_left[part], w_right[part], nodes, gradient)
            for target, value in zip(out, results, strict=True):
                target[part] = value
    out = [o.reshape(shape) for o in out]
    return tuple(out) if gradient else out[0]


def _log_integrand(w, a, b, k, m):
    """log of g(e^w) e^w, g(v) = (a+v)^-k (b+v)^-m."""
    return w - k * np.logaddexp(np.log(a), w) - m * np.logaddexp(np.log(b), w)


def _window(a, b, k, m):
    """[w_left, w_right]: where the integrands are not negligible, per integral."""
    log_a, log_b = np.log(a), np.log(b)
    # The peak: the slope 1 - k v/(a+v) - m v/(b+v) falls from 1 to 1-k-m < 0 as w grows.
    low = np.minimum(log_a, log_b) - np.log(k + m) - 60.0
    high = np.maximum(log_a, log_b) + 60.0
    for _ in range(_PEAK_STEPS):
        mid = 0.5 * (low + high)
        rising = 1.0 - k / (1.0 + np.exp(np.minimum(log_a - mid, 700.0))) \
            - m / (1.0 + np.exp(np.minimum(log_b - mid, 700.0))) > 0
        low, high = np.where(rising, mid, low), np.where(rising, high, mid)
    peak = 0.5 * (low + high)
    # A lower bound on log I: the log-integrand is concave, so on [peak-1, peak+1] it is
    # above its smaller end value; and I >= the exact part (g >= M).
    near = np.minimum(_log_integrand(peak - 1.0, a, b, k, m), _log_integrand(peak + 1.0, a, b, k, m))
    floor = np.maximum(near + np.log(2.0), _log_model(a, b, k, m)[0] - k * log_a - m * log_b) - _MARGIN

    # Left edge: the integrand rises to the peak.
    low = np.minimum(peak, -np.log(k / a + m / b)) - _MARGIN - 1.0
    high = peak.copy()
    for _ in range(_EDGE_STEPS):
        mid = 0.5 * (low + high)
        below = _log_integrand(mid, a, b, k, m) < floor
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    w_left = low

    # Right edge. g - M is below e^-40 of g beyond v = e^20 * spread (its relative size is
    # about (k (a-c)^2 + m (b-c)^2) / (2 v^2)); g/(a+v) and g/(b+v) fall at least like
    # v^-1 g beyond the larger base. And everything is negligible once g e^w is below floor.
    c = (k * a + m * b) / (k + m)
    spread = np.log(np.maximum(np.abs(a - c) * np.sqrt(k), np.abs(b - c) * np.sqrt(m)) + 1e-300) + 0.5 * _MARGIN
    far = np.maximum(np.maximum(spread, peak + 1.0), np.maximum(log_a, log_b) + _MARGIN)
    low, high = peak.copy(), far
    for _ in range(_EDGE_STEPS):
        mid = 0.5 * (low + high)
        below = _log_integrand(mid, a, b, k, m) < floor
        low, high = np.where(below, low, mid), np.where(below, mid, high)
    return w_left, high


def _log_model(a, b, k, m):
    """log(int M) + k log a + m log b, and c (M(v) = (c+v)^-(k+m)).

    The logs of g and M are both near -k log a - m log b, which is huge for huge k or m;
    working relative to it keeps their ratio accurate to rounding.
    """
    total = k + m
    c = (k * a + m * b) / total
    log_c = np.log(c)
    relative = (k * _log_ratio(a - c, np.log(a), c, log_c) + m * _log_ratio(b - c, np.log(b), c, log_c)
                + log_c - np.log(total - 1.0))
    return relative, c


def _log_ratio(x_minus_c, log_x_v, c_v, log_c_v):
    """log((x+v)/(c+v)): log1p((x-c)/(c+v)) where the ratio is near 1 (g close to M),
    else a difference of logs (no cancellation in 1 + ratio)."""
    ratio = x_minus_c / c_v
    return np.where(np.abs(ratio) < 0.5, np.log1p(np.clip(ratio, -0.5, 0.5)), log_x_v - log_c_v)


def _col(p):
    return p[:, None]


def _integrate(a, b, k, m, w_left, w_right, nodes, gradient):
    """The trapezoidal rule on [w_left, w_right] with `nodes` nodes, one row per integral."""
    log_model, c = _log_model(a, b, k, m)
    log_a, log_b, log_c = np.log(a), np.log(b), np.log(c)
    step = (w_right - w_left) / (nodes - 1)
    w = _col(w_left) + _col(step) * np.arange(nodes)
    v = np.exp(w)
    # Logs relative to -k log a - m log b (see _log_model).
    grow_a, grow_b = np.log1p(v / _col(a)), np.log1p(v / _col(b))   # log((x+v)/x)
    log_g = w - _col(k) * grow_a - _col(m) * grow_b
    c_v = _col(c) + v
    log_c_v = np.log(c_v)
    log_a_v, log_b_v = _col(log_a) + grow_a, _col(log_b) + grow_b
    ratio_a = _log_ratio(_col(a - c), log_a_v, c_v, log_c_v)
    ratio_b = _log_ratio(_col(b - c), log_b_v, c_v, log_c_v)
    log_m_over_g = _col(k) * ratio_a + _col(m) * ratio_b   # <= 0
    scale = np.maximum(np.max(log_g, axis=1), log_model)
    g = np.exp(log_g - _col(scale))
    excess = -g * np.expm1(log_m_over_g)                    # (g - M) e^w, scaled
    exact = np.exp(log_model - scale)
    total = exact + step * np.sum(excess, axis=1)
    log_total = np.log(total) + scale - k * log_a - m * log_b
    if not gradient:
        return (log_total,)
    model = g * np.exp(log_m_over_g)
    d_a = -k * step * np.sum(g / (_col(a) + v), axis=1) / total
    d_b = -m * step * np.sum(g / (_col(b) + v), axis=1) / total
    log_c_part = exact * (log_c + 1.0 / (k + m - 1.0))
    d_k = -(step * np.sum(log_a_v * excess + ratio_a * model, axis=1) + log_c_part) / total
    d_m = -(step * np.sum(log_b_v * excess + ratio_b * model, axis=1) + log_c_part) / total
    return log_total, d_a, d_b, d_k, d_m
