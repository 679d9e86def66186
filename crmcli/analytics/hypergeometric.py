"""Power series of the hypergeometric kind, summed for many customers at once.

The customer-base models need Gauss's hypergeometric function 2F1 at
0 <= z < 1. scipy.special.hyp2f1 is unreliable when z is near 1 and the
parameters are in the hundreds (scipy 1.17 gives nan for 2F1(1, 500; 500.6;
0.999) and a negative value for 2F1(1, 1.61; 2.61; 0.999)), and that is where
long-lived, frequent customers put us. So each model rewrites the 2F1 it needs (with
Euler's transformation) into a series whose terms eventually shrink at least
geometrically, and sums it here. Such a series needs about 35 / (1 - z) terms,
so where z > 0.95 Pareto/NBD integrates instead (power_integral.py).

A series is given by its first term and its term ratio

    u[j+1] / u[j] = z * prod_i (num[i] + j) / (den[i] + j),

the form every hypergeometric series takes. Summing stops for a customer when
a bound on everything not yet added is below `rtol` times the sum, so the
answer carries a guarantee rather than a fixed number of terms.

On request the same pass also sums what fitting needs for gradients:
sum_n n u[n] (the z-derivative is that over z) and, for each parameter P,
sum_n u[n] H_n(P) with H_n(P) = 1/P + ... + 1/(P+n-1) (the derivative of
log (P)_n, so these give the derivatives in the num and den parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Most customers need only a handful of terms (z is small once t is large), so
# the first terms are added one at a time for everyone, stopping each customer
# as soon as the bound allows. The few who need more continue in blocks that
# double in length, so that a series of a million terms costs few Python steps.
_TERM_BY_TERM = 64
_FIRST_BLOCK = 64
# Cap on (customers still summing) x (terms per block): bounds memory.
_MAX_BLOCK_CELLS = 1 << 20
# ... computed this many cells at a time (_add_in_blocks).
_SLICE_CELLS = 1 << 18
# Checking the bound costs about as much as adding a term: check every few terms.
_CHECK_EVERY = 4


@dataclass
class SeriesSums:
    """Results of sum_ratio_series, arrays of the broadcast shape.

    total: the sum. converged: False where max_terms were not enough (z within
    about 1e-5 of 1); there a geometric estimate of the rest is included.
    n_weighted: sum n u[n]; h_weighted: sum u[n] H_n(P) for each P in num + den
    (None unless derivatives were asked for).
    abs_total: sum |u[n]|; abs_total / |total| measures how much cancellation
    cost when the terms change sign.
    """

    total: np.ndarray
    converged: np.ndarray
    abs_total: np.ndarray
    n_weighted: np.ndarray | None = None
    h_weighted: list[np.ndarray] | None = None


class _Work:
    """Parallel arrays for the customers of one series still being summed.

    A parameter that is the same for every customer stays a plain float, so
    it costs nothing per customer.
    """

    def __init__(self, idx, last, z, params, n_params_num, derivatives, track_abs):
        self.idx, self.last, self.z, self.params = idx, last, z, params
        self.n_num = n_params_num
        self.total = last.copy()
        self.track_abs = track_abs
        if track_abs:
            self.abs_total = np.abs(last)
        self.derivatives = derivatives
        if derivatives:
            self.n_sum = np.zeros_like(last)
            self.h = [np.zeros_like(last) for _ in params]  # H_j(P) for the current j
            self.h_sum = [np.zeros_like(last) for _ in params]

    @property
    def num(self):
        return self.params[:self.n_num]

    @property
    def den(self):
        return self.params[self.n_num:]

    @property
    def size(self):
        return self.idx.size

    def keep(self, mask):
        kept = _Work.__new__(_Work)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                value = value[mask]
            elif isinstance(value, list):
                value = [v[mask] if isinstance(v, np.ndarray) else v for v in value]
            setattr(kept, name, value)
        return kept


def _column(p):
    """p as a column against a block of terms (a float broadcasts by itself)."""
    return p[:, None] if isinstance(p, np.ndarray) else p


def sum_ratio_series(first, num, den, z, *, rtol: float = 1e-15, max_terms: int = 1 << 22,
                     derivatives: bool = False) -> SeriesSums:
    """Sum the series u[0] + u[1] + ... described in the module docstring.

    first, z: array-likes (broadcast together with every num[i] and den[i]).
    num, den: sequences of the same length of numbers or array-likes; each
    den[i] + j must be positive for j >= 0.
    """
    if len(num) != len(den):
        raise ValueError("num and den must have the same length")
    shape, first_f, z_f, params = _flatten(first, num, den, z)
    # Terms keep the sign of the first unless a numerator parameter is negative:
    # only then is the cancellation worth measuring.
    track_abs = any(np.any(np.asarray(p) < 0) for p in params[:len(num)]) or bool(np.any(z_f < 0))

    out = SeriesSums(total=first_f.copy(), converged=first_f == 0, abs_total=np.abs(first_f))
    if derivatives:
        out.n_weighted = np.zeros_like(first_f)
        out.h_weighted = [np.zeros_like(first_f) for _ in params]

    idx = np.nonzero(~out.converged)[0]
    work = _Work(idx, first_f[idx], z_f[idx], [p if isinstance(p, float) else p[idx] for p in params],
                 len(num), derivatives, track_abs)
    work, j = _add_term_by_term(out, work, min(_TERM_BY_TERM, max_terms), rtol)
    work, j = _add_in_blocks(out, work, j, max_terms, rtol)
    if work.size:
        _add_geometric_rest(out, work, j)
    return _reshaped(out, shape, track_abs, derivatives)


def _flatten(first, num, den, z):
    """The broadcast shape, and first, z and every parameter flattened to it (a scalar stays a float)."""
    params = [float(p) if np.ndim(p) == 0 else np.asarray(p, float) for p in (*num, *den)]
    shape = np.broadcast_shapes(np.shape(first), np.shape(z), *[np.shape(p) for p in params])
    first_f = np.broadcast_to(np.asarray(first, float), shape).ravel()
    z_f = np.broadcast_to(np.asarray(z, float), shape).ravel()
    params = [p if isinstance(p, float) else np.broadcast_to(p, shape).ravel() for p in params]
    return shape, first_f, z_f, params


def _add_term_by_term(out: SeriesSums, work: _Work, stop: int, rtol: float) -> tuple[_Work, int]:
    """The first terms one at a time, where most customers finish; returns what is left and the next j."""
    j = 0  # index of work.last
    while work.size and j < stop:
        ratio = work.z.copy()
        for p, q in zip(work.num, work.den, strict=True):
            ratio *= p + j
            ratio /= q + j
        work.last *= ratio
        work.total += work.last
        if work.track_abs:
            work.abs_total += np.abs(work.last)
        if work.derivatives:
            work.n_sum += (j + 1) * work.last
            for h, h_sum, param in zip(work.h, work.h_sum, work.params, strict=True):
                h += 1.0 / (param + j)
                h_sum += work.last * h
        j += 1
        if j % _CHECK_EVERY:
            continue
        done = _finished(work, j, rtol)
        # Finished customers may keep adding (negligible) terms until enough of
        # them are done to be worth compacting the arrays.
        if done.all() or (done.any() and (done.sum() * 4 >= work.size or work.size < 256)):
            _store(out, work, done)
            work = work.keep(~done)
    return work, j


def _add_in_blocks(out: SeriesSums, work: _Work, j: int, max_terms: int, rtol: float) -> tuple[_Work, int]:
    """The slow tail in blocks of doubling width, vectorised along the terms; returns what is left and j."""
    block = _FIRST_BLOCK
    while work.size and j < max_terms:
        width = max(1, min(block, _MAX_BLOCK_CELLS // work.size, max_terms - j))
        steps = j + np.arange(width, dtype=float)
        # A block of (customers x width) terms and its temporaries were 3 to 4 arrays of _MAX_BLOCK_CELLS
        # at once (the largest part of a Pareto/NBD report's peak at 100,000 customers); a slice of
        # customers at a time holds a quarter of that. Each customer's terms are computed along its own
        # row alone, so the sums are the same to the last bit whatever the slices.
        rows_per_slice = max(1, _SLICE_CELLS // width)
        for start in range(0, work.size, rows_per_slice):
            _add_block(work, slice(start, start + rows_per_slice), steps)
        j += width
        block *= 2
        done = _finished(work, j, rtol)
        _store(out, work, done)
        work = work.keep(~done)
    return work, j


def _add_block(work: _Work, rows: slice, steps: np.ndarray) -> None:
    """Add the terms j .. j + len(steps) - 1 of the customers work[rows] to their sums."""
    def param(p):
        return _column(p[rows] if isinstance(p, np.ndarray) else p)

    last = work.last[rows]
    terms = np.empty((len(last), len(steps)))
    terms[:] = work.z[rows, None]
    for p, q in zip(work.num, work.den, strict=True):
        terms *= param(p) + steps
        terms /= param(q) + steps
    np.cumprod(terms, axis=1, out=terms)
    terms *= last[:, None]
    work.total[rows] += terms.sum(axis=1)
    if work.track_abs:
        work.abs_total[rows] += np.abs(terms).sum(axis=1)
    if work.derivatives:
        work.n_sum[rows] += np.sum(terms * (steps + 1.0), axis=1)
        for i, p in enumerate(work.params):
            h = work.h[i][rows, None] + np.cumsum(1.0 / (param(p) + steps), axis=-1)
            work.h_sum[i][rows] += np.sum(terms * h, axis=1)
            work.h[i][rows] = h[:, -1]
    work.last[rows] = terms[:, -1]


def _add_geometric_rest(out: SeriesSums, work: _Work, j: int) -> None:
    """Out of terms: add the rest as if the ratio stayed where it is now, and mark these not converged."""
    ratio_now = work.z.copy()
    for p, q in zip(work.num, work.den, strict=True):
        ratio_now *= (p + j) / (q + j)
    ratio_now = np.clip(ratio_now, -0.999999, 0.999999)
    work.total += work.last * ratio_now / (1.0 - ratio_now)
    _store(out, work, np.ones(work.size, dtype=bool), converged=False)


def _reshaped(out: SeriesSums, shape: tuple[int, ...], track_abs: bool, derivatives: bool) -> SeriesSums:
    if not track_abs:
        out.abs_total = np.abs(out.total)
    out.total = out.total.reshape(shape)
    out.converged = out.converged.reshape(shape)
    out.abs_total = out.abs_total.reshape(shape)
    if derivatives:
        assert out.n_weighted is not None and out.h_weighted is not None  # made above when derivatives
        out.n_weighted = out.n_weighted.reshape(shape)
        out.h_weighted = [h.reshape(shape) for h in out.h_weighted]
    return out


def _store(out: SeriesSums, work: _Work, done: np.ndarray, converged: bool = True) -> None:
    where = work.idx[done]
    out.total[where] = work.total[done]
    if work.track_abs:
        out.abs_total[where] = work.abs_total[done]
    out.converged[where] = converged
    if work.derivatives:
        assert out.n_weighted is not None and out.h_weighted is not None  # made with the work's derivatives
        out.n_weighted[where] = work.n_sum[done]
        for target, h_sum in zip(out.h_weighted, work.h_sum, strict=True):
            target[where] = h_sum[done]


def _finished(work: _Work, j: int, rtol: float) -> np.ndarray:
    """Whether everything after term j is below rtol times the sums so far.

    Each factor (p + i) / (q + i) moves monotonically towards 1 as i grows,
    once p + i >= 0, so for i >= j its size is at most max(1, its value at j):
    the ratio is at most a constant R and the rest of the series at most
    |u[j]| R / (1 - R). The weighted sums grow their weights by at most 1 (n)
    or 1/(P + j) (H_n(P)) per term, which adds a second geometric sum.
    Where R >= 1 (too early to tell) nothing is finished.
    """
    bound = np.abs(work.z).copy()
    valid = np.ones(work.size, dtype=bool)
    for p, q in zip(work.num, work.den, strict=True):
        valid &= (p + j >= 0) & (q + j > 0)
        bound *= np.maximum(1.0, (p + j) / (q + j))
    valid &= bound < 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        last = np.abs(work.last)
        geometric = bound / (1.0 - bound)
        step = geometric / (1.0 - bound)  # sum_i i R^i
        done = valid & (last * geometric <= rtol * np.abs(work.total))
        if work.derivatives:
            done &= last * (j * geometric + step) <= rtol * np.abs(work.n_sum)
            for h, h_sum, param in zip(work.h, work.h_sum, work.params, strict=True):
                growth = np.where(param + j > 0, 1.0 / (param + j), np.inf)
                done &= last * (np.abs(h) * geometric + growth * step) <= rtol * np.abs(h_sum)
    return done


def log_hyp2f1_unit(b, c, z):
    """log 2F1(1, b; c; z) for c > b > 0 and 0 <= z < 1, vectorised.

    Its terms (b)_n / (c)_n z^n are positive and their ratio
    z (b + n) / (c + n) stays below z, so the series is safe to sum directly.
    """
    b, c, z = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float), np.asarray(z, float))
    return np.log(sum_ratio_series(np.ones(b.shape), [b], [c], z).total)


def log_hyp2f1_unit_with_gradient(b, c, z):
    """log 2F1(1, b; c; z) and its partial derivatives in b, c and z (same conditions)."""
    b, c, z = np.broadcast_arrays(np.asarray(b, float), np.asarray(c, float), np.asarray(z, float))
    sums = sum_ratio_series(np.ones(b.shape), [b], [c], z, derivatives=True)
    assert sums.n_weighted is not None and sums.h_weighted is not None  # asked for with derivatives=True
    f = sums.total
    # (b)_n / (c)_n: d/db log = H_n(b), d/dc log = -H_n(c); d/dz z^n = n z^(n-1).
    d_b = sums.h_weighted[0] / f
    d_c = -sums.h_weighted[1] / f
    with np.errstate(divide="ignore", invalid="ignore"):
        d_z = np.where(z > 0, sums.n_weighted / (z * f), b / c)
    return np.log(f), d_b, d_c, d_z


def one_minus_power_over(e, log_base):
    """(1 - base^e) / e from log(base), with its limit -log(base) at e = 0.

    The models' expectations have this shape ((1 - ((beta+T)/(beta+T+t))^(s-1)) / (s-1)
    and its BG/NBD cousin); written this way s = 1 or a = 1 is not a special case.
    """
    e = np.asarray(e, dtype=float)
    y = e * log_base
    small = np.abs(y) < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        exact = -np.expm1(y) / e
    return np.where(small, -log_base * (1.0 + 0.5 * y), exact)
