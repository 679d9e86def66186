"""RFM: recency, frequency and monetary quintile scores, and the segment names they map to.

Scores are 1..5, 5 the best: most recent, most frequent, most money. Each
score is the customer's quintile by rank, so a fifth of the customers get
each score whatever the values look like. Equal values are ranked by
customer id, the smaller id ranking higher (as in the reports' orderings), so
the same input always gives the same scores, even though two customers with
equal values can then land in neighbouring quintiles.

Segments follow the widely copied R-score x F-score grid of RFM segment
names (Champions in the top-right corner, Hibernating bottom-left, ...),
read with FM = the average of the F and M scores rounded half up, so that
money counts too; we split its bottom-left cell in two so that the oldest
low-value customers (R = 1) are Lost rather than Hibernating:

    R \\ FM    1        2        3        4        5
    5        New      Pot.     Pot.     Champ.   Champ.
    4        Prom.    Pot.     Pot.     Loyal    Loyal
    3        Sleep    Sleep    Attn.    Loyal    Loyal
    2        Hib.     Hib.     Risk     Risk     Can't
    1        Lost     Lost     Risk     Risk     Can't

SEGMENT_RULES is that table as data (the README prints it from there), and
every one of the 125 (r, f, m) combinations falls in exactly one rule.
"""

from __future__ import annotations

import numpy as np

# (segment, (lowest R, highest R), (lowest FM, highest FM))
SEGMENT_RULES = (
    ("Champions", (5, 5), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential loyalist", (4, 5), (2, 3)),
    ("New", (5, 5), (1, 1)),
    ("Promising", (4, 4), (1, 1)),
    ("Need attention", (3, 3), (3, 3)),
    ("About to sleep", (3, 3), (1, 2)),
    ("At risk", (1, 2), (3, 4)),
    ("Can't lose them", (1, 2), (5, 5)),
    ("Hibernating", (2, 2), (1, 2)),
    ("Lost", (1, 1), (1, 2)),
)
SEGMENT_NAMES = tuple(name for name, _, _ in SEGMENT_RULES)

# What the owner can do about each segment: advice, not a score.
ADVICE = {
    "Champions": "Reward them; ask for reviews and referrals.",
    "Loyal": "Offer more of what they buy; invite them to a loyalty scheme.",
    "Potential loyalist": "Keep them engaged; suggest a membership or a regular order.",
    "New": "Welcome them; make the second purchase easy.",
    "Promising": "Build the relationship; a personal note goes a long way.",
    "Need attention": "Reach out with something relevant before they drift.",
    "About to sleep": "Remind them you exist; share what is new.",
    "At risk": "Call them: they used to buy often and well.",
    "Can't lose them": "Win them back personally; find out what went wrong.",
    "Hibernating": "A low-cost reminder; do not spend much.",
    "Lost": "Let go, or try one re-activation offer.",
}


def fm_score(f, m) -> np.ndarray:
    """The average of the F and M scores, rounded half up (1..5)."""
    return (np.asarray(f, dtype=np.int64) + np.asarray(m, dtype=np.int64) + 1) // 2


def _grid() -> np.ndarray:
    """SEGMENT_RULES as a lookup table: grid[r, fm] = index into SEGMENT_NAMES."""
    grid = np.full((6, 6), -1, dtype=np.int64)
    for index, (name, (r_lo, r_hi), (fm_lo, fm_hi)) in enumerate(SEGMENT_RULES):
        cells = grid[r_lo:r_hi + 1, fm_lo:fm_hi + 1]
        if np.any(cells >= 0):
            raise AssertionError(f"segment rule {name!r} overlaps another")
        cells[...] = index
    if np.any(grid[1:, 1:] < 0):
        raise AssertionError("segment rules leave some (R, FM) cell without a segment")
    return grid


_GRID = _grid()


def quintile_scores(values, customer_ids) -> np.ndarray:
    """1..5 by rank of value (5 = largest); among equal values the smaller id ranks higher; NaN ranks lowest.

    Score = 1 + floor(5 (rank + 1/2) / n) for ranks 0..n-1: exact quintiles
    when n is a multiple of 5, and for fewer than 5 customers the scores
    spread out from the middle (one customer: 3; two: 2 and 4; three: 1, 3, 5).
    """
    values = np.asarray(values, dtype=float).ravel()
    ids = np.asarray(customer_ids).ravel()
    if ids.shape != values.shape:
        raise ValueError("customer_ids must have one id per value")
    n = values.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    # Any sortable ids (numbers or text) become their rank, so lexsort sees integers.
    _, id_rank = np.unique(ids, return_inverse=True)
    key = np.where(np.isnan(values), -np.inf, values)
    order = np.lexsort((-np.ravel(id_rank), key))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return 1 + (10 * rank + 5) // (2 * n)


def boundaries(values, customer_ids) -> list[list[float] | None]:
    """Where quintile_scores' scores 2..5 begin: the (value, id) of the first customer in rank order
    with that score, or None when nobody has it (fewer than 5 customers). With these four pairs
    score_against gives a customer the same score as quintile_scores over the whole base, without the base.
    """
    values = np.asarray(values, dtype=float).ravel()
    ids = np.asarray(customer_ids).ravel()
    n = values.size
    key = np.where(np.isnan(values), -np.inf, values)
    _, id_rank = np.unique(ids, return_inverse=True)
    order = np.lexsort((-np.ravel(id_rank), key))
    found: list[list[float] | None] = []
    for score in range(2, 6):
        # The smallest rank with 1 + (10 rank + 5) // (2n) >= score.
        rank = max(0, -((5 - 2 * n * (score - 1)) // 10))
        found.append([float(key[order[rank]]), float(ids[order[rank]])] if rank < n else None)
    return found


def score_against(value: float, customer_id: float, bounds: list[list[float] | None]) -> int:
    """The quintile score of one customer against boundaries() of a base: 1 + the boundaries it is at or
    past in rank order (value ascending; among equal values the larger id first)."""
    key = -np.inf if value != value else float(value)
    passed = sum(1 for bound in bounds if bound is not None
                 and (key > bound[0] or (key == bound[0] and customer_id <= bound[1])))
    return 1 + passed


def scores_against(last_purchase_day, frequency, monetary, customer_ids, bounds) -> tuple[np.ndarray, ...]:
    """(R, F, M) scores against the boundaries of a base ({"recency": boundaries(last purchase days, ids),
    "frequency": ..., "monetary": ...}): as scores() over that base gives its own customers."""
    ids = np.asarray(customer_ids).ravel().tolist()

    def against(values, name: str) -> np.ndarray:
        values = np.asarray(values, dtype=float).ravel().tolist()
        return np.array([score_against(v, i, bounds[name]) for v, i in zip(values, ids, strict=True)], dtype=np.int64)

    return against(last_purchase_day, "recency"), against(frequency, "frequency"), against(monetary, "monetary")


def scores(recency_days, frequency, monetary, customer_ids) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(R, F, M) quintile scores: R is 5 for the fewest days since the last purchase."""
    recency = -np.asarray(recency_days, dtype=float)
    return (quintile_scores(recency, customer_ids), quintile_scores(frequency, customer_ids),
            quintile_scores(monetary, customer_ids))


def segment(r, f, m) -> list[str]:
    """Segment name of each customer (see SEGMENT_RULES)."""
    r, f, m = (np.asarray(s, dtype=np.int64).ravel() for s in (r, f, m))
    if not r.shape == f.shape == m.shape:
        raise ValueError("r, f and m must have the same length")
    for s in (r, f, m):
        if np.any((s < 1) | (s > 5)):
            raise ValueError("scores must be from 1 to 5")
    return [SEGMENT_NAMES[i] for i in _GRID[r, fm_score(f, m)]]
