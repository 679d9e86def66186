"""Recognising Pareto/NBD's s, beta -> infinity ridge, within a budget of likelihood evaluations.

When every customer seems to leave at about the same rate, the Pareto/NBD likelihood keeps rising
as s and beta grow together with s/beta steady: the Gamma(s, beta) spread of the drop-out rate
(coefficient of variation 1/sqrt(s)) shrinks towards none. The supremum is then the likelihood's
value on that boundary, which is the homogeneous drop-out model of pareto_limit.py: its maximum is
a lower bound of the four-parameter supremum, and the four-parameter fit can approach it only from
below. Following the ridge took some 25 evaluations and 40 s at 100,000 customers (each evaluation
far out is costly: power_integral.py's quadrature), to stop at beta ~ 7e6 and say "not converged".

So pareto.fit watches its own optimiser (RidgeWatch.watch wraps the likelihood it hands to
fitting.maximize_likelihood) and switches to the limit model when
- the last _TRAIL evaluations ran outwards along the ridge: s rising at each, s >= _RIDGE_S (a
  drop-out rate spread of at most 1/sqrt(20) = 22% of its mean), and s/beta within _STEADY of
  steady; and
- the best four-parameter log-likelihood seen so far has not beaten the limit model's maximum by
  more than TOLERANCE = 1.35, half the 5% critical value 2.71 of the likelihood-ratio test on the
  boundary of the parameter space (2 delta-loglik ~ 1/2 chi2_0 + 1/2 chi2_1; Self & Liang 1987).
It also takes the limit when the four-parameter fit ends unconverged but not significantly better
than the limit (the same tolerance), and it stops the four-parameter search once its work reaches
the budget whatever happens: a budget of work, not of wall-clock time, so the same data always give
the same answer. An evaluation's work is what it costs: pareto.fit weighs each by the terms its
integrals need at those parameters (pareto.evaluation_work: 1 where the series are short, up to 20
where they are long), since an evaluation far out along the ridge costs ten times one near the
start (0.05 s against 0.5 s at 100,000 customers), and a budget in plain evaluations let a fit
wandering out there run for half a minute. WORK_BUDGET (200) is about 90 ordinary evaluations and
10 of the dearest: at most 5-8 s at 100,000 customers. Without a weight an evaluation is 1, and
the budget is BUDGET evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from crmcli.analytics.fitting import FitResult

TOLERANCE = 1.35
BUDGET = 60          # likelihood evaluations of the four-parameter fit, its final checks included, unweighted
WORK_BUDGET = 200.0  # the same weighed by each evaluation's work (pareto.evaluation_work)
_RIDGE_S = 20.0
_TRAIL = 3
_STEADY = 0.1        # max/min of s/beta over the trail below 1.1


class OnRidge(Exception):
    """The four-parameter optimiser is running off along s, beta -> infinity."""


class OutOfBudget(Exception):
    """The four-parameter fit used up its budget of likelihood evaluations."""


@dataclass
class RidgeWatch:
    """Watches a Pareto/NBD fit's likelihood evaluations; limit_fit fits the limit model (called at most once)."""

    limit_fit: Callable[[], FitResult]
    budget: float = BUDGET
    work: Callable[[dict], float] | None = None  # an evaluation's work at these parameters; None: 1 each
    evaluations: int = 0
    spent: float = 0.0                                                # the work done so far
    trail: list[tuple[float, float]] = field(default_factory=list)   # (s, beta) per evaluation
    best: float = -np.inf                                             # best finite log-likelihood seen
    best_params: dict | None = None
    _limit: FitResult | None = None

    def limit(self) -> FitResult:
        if self._limit is None:
            self._limit = self.limit_fit()
        return self._limit

    def watch(self, total_and_gradient: Callable[[dict], tuple[float, np.ndarray]]):
        def watched(params: dict) -> tuple[float, np.ndarray]:
            cost = 1.0 if self.work is None else float(self.work(params))
            if self.spent + cost > self.budget:
                raise OutOfBudget
            self.evaluations += 1
            self.spent += cost
            value, gradient = total_and_gradient(params)
            self.trail.append((float(params["s"]), float(params["beta"])))
            if np.isfinite(value) and value > self.best:
                self.best, self.best_params = float(value), dict(params)
            if self._running_off() and self.limit_is_as_good(self.best):
                raise OnRidge
            return value, gradient
        return watched

    def _running_off(self) -> bool:
        if len(self.trail) < _TRAIL:
            return False
        s, beta = np.array(self.trail[-_TRAIL:]).T
        ratio = s / beta
        return bool(s[-1] >= _RIDGE_S and np.all(np.diff(s) > 0) and ratio.max() <= (1.0 + _STEADY) * ratio.min())

    def limit_is_as_good(self, log_likelihood: float) -> bool:
        """Whether the limit model fits and four-parameter `log_likelihood` does not beat it significantly."""
        limit = self.limit()
        return bool(limit.converged and not log_likelihood > limit.log_likelihood + TOLERANCE)

    def as_limit(self, model: str, why: str, iterations: int = 0) -> FitResult:
        """The limit model's fit, under the four-parameter model's name, saying why."""
        limit = self.limit()
        mu = limit.params["mu"]
        return FitResult(
            model=model, params=dict(limit.params), log_likelihood=limit.log_likelihood,
            customers=limit.customers, repeat_customers=limit.repeat_customers, converged=limit.converged,
            message=(f"{limit.message}: the homogeneous drop-out limit (s, beta -> infinity with s/beta = "
                     f"mu = {mu:.4g} per day; {why}; best four-parameter log-likelihood {self.best:.2f} vs "
                     f"the limit's {limit.log_likelihood:.2f} after {self.evaluations} evaluations)"),
            iterations=iterations + limit.iterations,
        )

    def out_of_budget(self, model: str, names: tuple[str, ...], customers: float, repeat: float) -> FitResult:
        """The four-parameter fit stopped by the budget: its best point, not converged."""
        params = self.best_params or {n: float("nan") for n in names}
        return FitResult(model=model, params={n: float(params[n]) for n in names}, log_likelihood=self.best,
                         customers=int(round(customers)), repeat_customers=int(round(repeat)), converged=False,
                         message=self._budget_message())

    def _budget_message(self) -> str:
        if self.work is None:
            return f"no maximum within {self.budget:g} likelihood evaluations"
        return (f"no maximum within the work budget of {self.budget:g} ({self.evaluations} likelihood "
                f"evaluations, weighed by their cost)")
