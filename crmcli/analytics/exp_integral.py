"""S(k, z) = integral from 0 to infinity of e^(-z s) (1+s)^-k ds = e^z E_k(z), for real k and z > 0.

The homogeneous drop-out limit of Pareto/NBD (pareto_limit.py) needs the upper incomplete gamma
function Gamma(1-k, y) with 1-k = 1-r-x < 0, or equivalently the generalised exponential integral
E_k(y) = y^(k-1) Gamma(1-k, y) of real order k. scipy.special has neither for these arguments:
gammaincc(a, y) needs a > 0 (and is regularised, so it cannot carry the Gamma(a) of a < 0), expn is
for integer order only, and hyperu(1, 2-k, y) (= S) is known to be inaccurate for very negative b.
The series of E_k in y cancels catastrophically when k is near an integer (r = 1 exactly is a
starting point of the fit), and its continued fraction converges slowly for small y and k.

So S is computed here in two steps, both without cancellation:

1. Quadrature at one order per z. In w = log s the integrand exp(w - z e^w - k log(1 + e^w)) is
   log-concave (its log's second derivative is -z e^w - k e^w / (1+e^w)^2 < 0), has one peak, falls
   like e^w on the left and doubly exponentially on the right, and is analytic and bounded by about
   its peak within |Im w| < pi/2: the trapezoidal rule's error falls like exp(-pi^2 / h), about 5e-15
   at h = 0.3 (checked against scipy.integrate.quad in tests/analytics/test_exp_integral.py).

2. The recurrence in the order, from integrating by parts:  k S(k+1, z) = 1 - z S(k, z).
   Upwards, S(k+1) = (1 - z S(k)) / k multiplies an error by about z / k; downwards,
   S(k-1) = (1 - (k-1) S(k)) / z by about (k-1) / z. So each z's ladder k = r - 1, r, r + 1, ...
   is started by quadrature at the order k* = r + ceil(z - r) (clipped to the ladder) and run up
   from it and down from it, each way where the recurrence shrinks errors; 1 - z S(k) and
   1 - (k-1) S(k) are then at least about 1/2, so nothing cancels either. A fit needs S for every
   (r + x, z) with z one per distinct day count: a few thousand quadratures and a ladder of a few
   dozen steps instead of a quadrature per (x, day) pair and per evaluation.

The derivatives come the same way: d/dz S(k) = S(k) - S(k-1) (differentiate under the integral),
and d/dk S by the differentiated recurrence k S'(k+1) = -S(k+1) - z S'(k) (S' = d/dk S), started by
the quadrature's own d/dk (the integral of -log(1+s) times the integrand).
"""

from __future__ import annotations

import numpy as np

_STEP = 0.3            # trapezoidal step in w = log s: error ~ exp(-pi^2 / h) ~ 5e-15
_MARGIN = 45.0         # nodes cover where the integrand is above e^-45 of its peak
_PEAK_STEPS = 40
_EDGE_STEPS = 26
_MAX_CELLS = 1 << 20   # cap on (integrals in one batch) x (nodes): bounds memory


def _log_integrand(w, k, z):
    return w - z * np.exp(w) - k * np.logaddexp(0.0, w)


def _window(k, z):
    """[left, right] in w outside which the integrand is below e^-_MARGIN of its peak."""
    # The slope 1 - z e^w - k e^w/(1+e^w) is > 0 below -log(z+k) - 1 and < 0 above 1 - log z.
    low, high = -np.log(z + np.maximum(k, 0.0)) - 1.0, 1.0 - np.log(z)
    for _ in range(_PEAK_STEPS):
        mid = 0.5 * (low + high)
        rising = 1.0 - z * np.exp(mid) - k / (1.0 + np.exp(-mid)) > 0
        low, high = np.where(rising, mid, low), np.where(rising, high, mid)
    peak = 0.5 * (low + high)
    floor = _log_integrand(peak, k, z) - _MARGIN
    low, high = peak - 300.0, peak.copy()
    for _ in range(_EDGE_STEPS):
        mid = 0.5 * (low + high)
        below = _log_integrand(mid, k, z) < floor
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    left = low
    low, high = peak.copy(), peak + 100.0
    for _ in range(_EDGE_STEPS):
        mid = 0.5 * (low + high)
        below = _log_integrand(mid, k, z) < floor
        low, high = np.where(below, low, mid), np.where(below, mid, high)
    return left, high


def quadrature(k, z):
    """(S(k, z), d/dk S, d/dz S) by the trapezoidal rule, for arrays k (any real) and z > 0 (broadcast)."""
    k, z = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(z, dtype=float))
    shape = k.shape
    k, z = np.ravel(k), np.ravel(z)
    out = [np.empty(k.size) for _ in range(3)]
    if k.size:
        left, right = _window(k, z)
        nodes = int(np.ceil(np.max(right - left) / _STEP)) + 1
        rows = max(1, _MAX_CELLS // nodes)
        for start in range(0, k.size, rows):
            part = slice(start, start + rows)
            for target, value in zip(out, _integrate(k[part], z[part], left[part], right[part], nodes),
                                     strict=True):
                target[part] = value
    return tuple(o.reshape(shape) for o in out)


def _integrate(k, z, left, right, nodes):
    step = (right - left) / (nodes - 1)
    w = left[:, None] + step[:, None] * np.arange(nodes)
    s = np.exp(w)
    log1p_s = np.log1p(s)   # s < e^(peak + 100): no overflow
    log_g = w - z[:, None] * s - k[:, None] * log1p_s
    peak = np.max(log_g, axis=1)
    g = np.exp(log_g - peak[:, None])
    scale = step * np.exp(peak)
    total = np.sum(g, axis=1)
    return total * scale, -np.sum(g * log1p_s, axis=1) * scale, -np.sum(g * s, axis=1) * scale


def ladder(r: float, top: int, z) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S(r + j, z), d/dk S and d/dz S for j = 0 .. top (columns) and each z (rows), r > 0, z > 0."""
    z = np.ravel(np.asarray(z, dtype=float))
    orders = r + np.arange(-1, top + 1, dtype=float)   # one below r, for d/dz S(r) = S(r) - S(r-1)
    n = orders.size
    pivot = np.clip(np.ceil(z - r).astype(np.int64) + 1, 1, n - 1)   # index into orders
    value, d_k, _ = quadrature(orders[pivot], z)
    # Rows are orders here (contiguous per step); every step runs on all z and keeps its own side.
    S = np.zeros((n, z.size))
    dS = np.zeros((n, z.size))
    columns = np.arange(z.size)
    lowest, highest = int(pivot.min(initial=n)), int(pivot.max(initial=0))
    S[pivot, columns], dS[pivot, columns] = value, d_k
    for i in range(1, n):   # upwards: S(k+1) = (1 - z S(k)) / k, where i-1 >= pivot
        k = orders[i - 1]
        if i - 1 < lowest:
            continue
        value = (1.0 - z * S[i - 1]) / k
        if i - 1 < highest:   # some rows are still below their pivot: keep theirs
            up = pivot <= i - 1
            S[i] = np.where(up, value, S[i])
            dS[i] = np.where(up, -(S[i] + z * dS[i - 1]) / k, dS[i])
        else:
            S[i] = value
            dS[i] = -(value + z * dS[i - 1]) / k
    for i in range(min(highest, n - 1) - 1, -1, -1):   # downwards: S(k-1) = (1 - (k-1) S(k)) / z, where i+1 <= pivot
        k = orders[i + 1]
        down = pivot >= i + 1
        if down.any():
            S[i] = np.where(down, (1.0 - (k - 1.0) * S[i + 1]) / z, S[i])
            dS[i] = np.where(down, -(S[i + 1] + (k - 1.0) * dS[i + 1]) / z, dS[i])
    return S[1:].T, dS[1:].T, (S[1:] - S[:-1]).T
