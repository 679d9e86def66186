"""What every model fit shares: input checks, compression, maximum likelihood.

The models' parameters are all positive, so the optimiser works on their
logarithms: no bounds to hit at zero, and a step means the same relative
change for alpha = 0.5 and alpha = 5000.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

# A parameter outside this range means the optimiser ran off towards a limit of
# the model (for example s and beta growing together without end when every
# customer has the same dropout rate). The numbers it stops at are then
# arbitrary, so such a fit is not reported as converged.
SANE_RANGE = (1e-6, 1e6)
# The optimiser's box on log-parameters, a little wider than SANE_RANGE so that
# reaching the box is visible as "out of range" rather than silently clipped.
_LOG_BOX = (np.log(SANE_RANGE[0]) - 2.0, np.log(SANE_RANGE[1]) + 2.0)
# Returned instead of inf/nan so that the optimiser backs away instead of stopping.
_BAD_OBJECTIVE = 1e10
# The work budget of one fit: likelihood evaluations over every start and polish together (the final
# check of the maximum, 2 per parameter plus one, comes on top). A budget of work, not of time, so the
# same data always give the same fit. A fit normally takes 15-40; at 100,000 customers of whole days
# one evaluation costs up to about 0.05 s, so a fit that finds no maximum stops within about 5 s
# (Nelder-Mead alone could otherwise spend its 3,000 evaluations, minutes, on a flat likelihood).
EVALUATION_BUDGET = 100


@dataclass(frozen=True)
class FitResult:
    """The outcome of fitting one model to a customer base.

    log_likelihood is the total over customers (weighted), without any penalty.
    customers and repeat_customers count customers (summing weights, if given).
    """

    model: str
    params: dict[str, Any]  # floats for a model; stored.POPULATION's figures are lists and flags too
    log_likelihood: float
    customers: int
    repeat_customers: int
    converged: bool
    message: str
    iterations: int = 0  # the optimiser's iterations, over every start and polish


def as_array(name: str, values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite numbers")
    return array


def check_history(x, t_x, T) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and broadcast (x, t_x, T). t_x is taken as 0 where x == 0:
    with no repeat purchase, the last purchase is the first."""
    x, t_x, T = np.broadcast_arrays(as_array("x", x), as_array("t_x", t_x), as_array("T", T))
    if np.any(x < 0):
        raise ValueError("x (repeat transactions) must be >= 0")
    t_x = np.where(x == 0, 0.0, t_x)
    if np.any(t_x < 0):
        raise ValueError("t_x must be >= 0")
    if np.any(t_x > T):
        raise ValueError("t_x must not exceed T")
    return x, t_x, T


def check_horizon(t) -> np.ndarray:
    """A forecast horizon (days ahead): finite and >= 0."""
    t = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t < 0):
        raise ValueError("t (days ahead) must be finite and >= 0")
    return t


def check_weights(weights, shape) -> np.ndarray:
    if weights is None:
        return np.ones(shape)
    w = np.broadcast_to(as_array("weights", weights), shape)
    if np.any(w < 0):
        raise ValueError("weights must be >= 0")
    return w


def check_params(params: dict, names: Sequence[str]) -> list[float]:
    """The named parameters as floats, in order; each must be a positive number."""
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError("missing parameter(s): " + ", ".join(missing))
    out = [float(params[n]) for n in names]
    for n, v in zip(names, out, strict=True):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"parameter {n} must be a positive number, got {params[n]!r}")
    return out


def weighted_sum(weights: np.ndarray, values: np.ndarray) -> float:
    """sum(weights * values). Not np.dot: that goes to the BLAS thread pool,
    which stalls for milliseconds when the machine's cores are busy."""
    return float(np.sum(weights * values))


def distinct_rows(columns: Sequence[np.ndarray]):
    """The distinct rows of the given columns (as columns, in lexicographic order) and, for each input
    row, the index of its distinct row: np.unique(axis=0)'s answer, written with lexsort because
    np.unique sorts the rows as records, 8x slower (0.2 s against 0.025 s for 100,000 customers, and a
    report asks several times)."""
    flat = [np.ravel(c) for c in columns]
    order = np.lexsort(flat[::-1])  # lexsort's last key is the primary one
    in_order = [c[order] for c in flat]
    starts = np.zeros(len(order), dtype=bool)  # where a new distinct row begins
    if len(order):
        starts[0] = True
        for column in in_order:
            starts[1:] |= column[1:] != column[:-1]
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return [column[starts] for column in in_order], inverse


def compress(columns: Sequence[np.ndarray], weights: np.ndarray):
    """The distinct rows of the given columns and the total weight of each.

    Customers with the same history have the same likelihood, and a real base
    has far fewer distinct histories than customers (whole days, small
    counts), which is what makes fitting fast.
    """
    unique, inverse = distinct_rows(columns)
    totals = np.bincount(inverse, weights=np.ravel(weights), minlength=len(unique[0]))
    keep = totals > 0
    return [u[keep] for u in unique], totals[keep]


def no_fit(model: str, names: Sequence[str], customers: float, repeat_customers: float, message: str) -> FitResult:
    """The result for data a model cannot be fitted to at all."""
    return FitResult(model=model, params={n: float("nan") for n in names}, log_likelihood=float("nan"),
                     customers=int(round(customers)), repeat_customers=int(round(repeat_customers)),
                     converged=False, message=message)


def maximize_likelihood(
    model: str,
    names: Sequence[str],
    total_and_gradient: Callable[[dict], tuple[float, np.ndarray]],
    starts: Sequence[dict],
    customers: float,
    repeat_customers: float,
    penalizer: float = 0.0,
    budget: int = EVALUATION_BUDGET,
) -> FitResult:
    """Maximum likelihood over log-parameters, from each start in turn.

    total_and_gradient(params) returns the total log-likelihood and its
    gradient with respect to the log-parameters.

    The objective is the mean log-likelihood per customer (so that the
    optimiser's tolerances mean the same for 100 or 100,000 customers) minus
    penalizer * sum(log(param)^2): an optional L2 penalty that pulls every
    parameter towards 1 (default 0, no penalty).

    L-BFGS-B runs first from the first start; if it does not report success it
    is polished with Nelder-Mead, then the next start is tried. The best
    optimum found is returned. It is reported converged only if it is a real
    maximum: the optimiser reported success, the likelihood is finite, every
    parameter is inside SANE_RANGE, the gradient has vanished and the
    likelihood curves down in every direction (see _check_maximum).

    budget: at most this many likelihood evaluations in all (EVALUATION_BUDGET); a search that
    runs out returns the best point it saw, not converged.
    """
    if penalizer < 0:
        raise ValueError("penalizer must be >= 0")
    scale = max(float(customers), 1.0)
    objective = _mean_objective(names, total_and_gradient, scale, penalizer)
    best, iterations = _best_optimum(objective, names, starts, budget)
    params = {n: float(v) for n, v in zip(names, np.exp(best.x), strict=True)}
    with np.errstate(all="ignore"):
        loglik = float(total_and_gradient(params)[0])
    if not best.success:
        message = f"the optimiser did not converge: {best.message}"
    elif not np.isfinite(loglik):
        message = "the likelihood is not finite at the optimum"
    elif not all(SANE_RANGE[0] <= v <= SANE_RANGE[1] for v in params.values()):
        off = ", ".join(f"{n}={v:.3g}" for n, v in params.items() if not SANE_RANGE[0] <= v <= SANE_RANGE[1])
        message = f"parameter(s) ran off to a limit of the model: {off}"
    else:
        message = _check_maximum(total_and_gradient, names, best.x, scale, penalizer)
    return FitResult(
        model=model, params=params, log_likelihood=loglik, customers=int(round(customers)),
        repeat_customers=int(round(repeat_customers)), converged=message == "converged", message=str(message),
        iterations=iterations,
    )


def _mean_objective(
    names: Sequence[str],
    total_and_gradient: Callable[[dict], tuple[float, np.ndarray]],
    scale: float,
    penalizer: float,
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """What the optimiser minimises: minus the mean log-likelihood plus the penalty, and its gradient.

    Anywhere the likelihood is not finite it returns _BAD_OBJECTIVE and a flat gradient.
    """

    def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = dict(zip(names, np.exp(log_params), strict=True))
        with np.errstate(all="ignore"):
            total, gradient = total_and_gradient(params)
            value = -total / scale + penalizer * float(np.sum(log_params ** 2))
            gradient = -np.asarray(gradient, float) / scale + 2.0 * penalizer * log_params
        if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
            return _BAD_OBJECTIVE, np.zeros(len(names))
        return value, gradient

    return objective


class _OutOfEvaluations(Exception):
    pass


class _Budgeted:
    """The objective, counting its evaluations: past the budget it raises _OutOfEvaluations. It keeps
    the best point seen, which is what a search stopped by the budget returns."""

    def __init__(self, objective: Callable[[np.ndarray], tuple[float, np.ndarray]], budget: int) -> None:
        self.objective, self.budget, self.used = objective, budget, 0
        self.best_x: np.ndarray | None = None
        self.best_fun = np.inf

    def __call__(self, log_params: np.ndarray) -> tuple[float, np.ndarray]:
        if self.used >= self.budget:
            raise _OutOfEvaluations
        self.used += 1
        value, gradient = self.objective(log_params)
        if value < self.best_fun:
            self.best_x, self.best_fun = np.array(log_params, dtype=float), value
        return value, gradient

    def value_only(self, log_params: np.ndarray) -> float:
        return self(log_params)[0]

    def stopped(self, start: np.ndarray):
        """scipy's result for a search the budget stopped: its best point, not a success."""
        x = start if self.best_x is None else self.best_x
        return SimpleNamespace(x=x, fun=self.best_fun, success=False, nit=0,
                               message=f"no maximum within {self.budget} likelihood evaluations")


def _best_optimum(objective: Callable[[np.ndarray], tuple[float, np.ndarray]], names: Sequence[str],
                  starts: Sequence[dict], budget: int = EVALUATION_BUDGET):
    """L-BFGS-B from each start in turn, polished by Nelder-Mead when it fails, all within `budget`
    evaluations: the best result (scipy's) and the iterations spent on all of them."""
    # Here, not at the top: scoring from a stored fit (customer show) never loads scipy.optimize (0.3 s).
    from scipy.optimize import minimize

    counted = _Budgeted(objective, budget)
    bounds = [_LOG_BOX] * len(names)
    best = None
    iterations = 0
    for start in starts:
        x0 = np.log([float(start[n]) for n in names])
        try:
            result = minimize(counted, x0, jac=True, method="L-BFGS-B", bounds=bounds)
            iterations += int(getattr(result, "nit", 0))
            at_box_edge = np.any(np.isclose(result.x, _LOG_BOX[0]) | np.isclose(result.x, _LOG_BOX[1]))
            # A run that stopped on the box's edge is following a likelihood that keeps rising
            # towards a limit of the model (e.g. no sign of drop-out: beta -> infinity); polishing
            # it cannot make it converge and took up to half a minute. Otherwise polish, within a budget.
            if not result.success and not at_box_edge:
                polish = minimize(counted.value_only, result.x, method="Nelder-Mead",
                                  options={"xatol": 1e-7, "fatol": 1e-12, "maxiter": 1500, "maxfev": 3000})
                iterations += int(getattr(polish, "nit", 0))
                if polish.fun <= result.fun:
                    result = polish
        except _OutOfEvaluations:
            stopped = counted.stopped(x0)
            return (stopped if best is None or stopped.fun < best.fun else best), iterations
        if best is None or result.fun < best.fun:
            best = result
        if best.success and best.fun < _BAD_OBJECTIVE:
            break
    assert best is not None, "no starting points"  # every caller passes at least one
    return best, iterations


# At a maximum the gradient of the mean log-likelihood per customer vanishes;
# optimisers stop at about 1e-5. Larger means it stopped on a slope (typically a
# likelihood that keeps rising towards a limit of the model).
_GRADIENT_TOLERANCE = 1e-3
# Standard error of a log-parameter (along any direction) beyond which the data
# do not pin the parameters down: 5 is a factor of about 150 either way.
_MAX_LOG_STANDARD_ERROR = 5.0


def _check_maximum(total_and_gradient, names, log_params, scale, penalizer) -> str:
    """"converged", or why the point is not a proper maximum of the (penalised) likelihood."""
    def gradient(at):
        with np.errstate(all="ignore"):
            g = np.asarray(total_and_gradient(dict(zip(names, np.exp(at), strict=True)))[1], float)
        return g - 2.0 * penalizer * scale * at

    g0 = gradient(log_params)
    if not np.all(np.isfinite(g0)):
        return "the likelihood's gradient is not finite at the optimum"
    if np.max(np.abs(g0)) / scale > _GRADIENT_TOLERANCE:
        return (f"the optimiser stopped while the likelihood was still rising "
                f"(largest gradient {np.max(np.abs(g0)) / scale:.2g} per customer)")
    # Hessian of the total log-likelihood by central differences of the gradient. The step
    # is not tiny: along a ridge towards a limit of a model (r and alpha in the thousands,
    # say) the gradient carries rounding noise of ~1e-6, which a step of 1e-5 turned into
    # curvatures of 0.1 either way, enough to call a flat ridge a maximum. At 1e-3 the noise
    # is ~1e-3 and the truncation error (third derivatives x step^2) smaller still.
    step = 1e-3
    hessian = np.empty((len(names), len(names)))
    for i in range(len(names)):
        up, down = log_params.copy(), log_params.copy()
        up[i] += step
        down[i] -= step
        hessian[:, i] = (gradient(up) - gradient(down)) / (2.0 * step)
    hessian = 0.5 * (hessian + hessian.T)
    if not np.all(np.isfinite(hessian)):
        return "the likelihood's curvature is not finite at the optimum"
    curvature = np.linalg.eigvalsh(hessian)
    if curvature.max() >= 0 or 1.0 / np.sqrt(-curvature.max()) > _MAX_LOG_STANDARD_ERROR:
        return "the likelihood is flat along some direction: the data do not pin the parameters down"
    return "converged"
