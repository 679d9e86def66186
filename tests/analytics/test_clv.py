"""CLV: months, discounting, and agreement with the models' expectations."""

import numpy as np
import pytest
from scipy.special import hyp2f1

from crmcli.analytics import bgnbd, clv, pareto

BG = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}
PNBD = {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}
X = np.array([0.0, 1.0, 4.0, 30.0, 4.0])
T_X = np.array([0.0, 20.0, 300.0, 700.0, 300.0])
T = np.array([10.0, 400.0, 500.0, 720.0, 500.0])
SPEND = np.array([20.0, 35.0, 50.0, 12.0, 50.0])


def test_month_ends():
    assert clv.month_ends(365).tolist() == [30 * k for k in range(1, 13)] + [365]
    assert clv.month_ends(30).tolist() == [30]
    assert clv.month_ends(45).tolist() == [30, 45]


@pytest.mark.parametrize("model, params, module", [("bgnbd", BG, bgnbd), ("pareto", PNBD, pareto)])
def test_without_discount_clv_is_expected_purchases_times_spend(model, params, module):
    value = clv.clv(model, params, X, T_X, T, SPEND, 365)
    expected = module.expected_purchases(params, 365, X, T_X, T) * SPEND
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    monthly = clv.monthly_purchases(model, params, X, T_X, T, 365)
    assert monthly.shape == (13, 5)
    assert np.all(monthly >= 0)
    np.testing.assert_allclose(monthly.sum(axis=0) * SPEND, value, rtol=1e-12)


# The models' definitions, written out here from the papers and evaluated apart from crmcli's
# code (which uses other, numerically safer forms), so that the expected values below do not
# come from the code under test.

def bgnbd_by_definition(p, t, x, t_x, T):
    """FHL 2005 eq. 10: E[purchases in (T, T+t]] = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x)
    2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))."""
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    bracket = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    p_alive = 1 / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    return (a + b + x - 1) / (a - 1) * bracket * p_alive


def pareto_by_definition(p, t, x, t_x, T):
    """Schmittlein et al. 1987: (r+x)(beta+T)/((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] P(alive)."""
    r, alpha, s, beta = p["r"], p["alpha"], p["s"], p["beta"]
    if_alive = (r + x) * (beta + T) / ((alpha + T) * (s - 1)) * (1 - ((beta + T) / (beta + T + t)) ** (s - 1))
    return if_alive * pareto.p_alive(p, x, t_x, T)  # P(alive) is a constant factor: the split is what is tested


BY_DEFINITION = {"bgnbd": (BG, bgnbd_by_definition), "pareto": (PNBD, pareto_by_definition)}


@pytest.mark.parametrize("model", ["bgnbd", "pareto"])
def test_each_month_holds_the_purchases_expected_in_it(model):
    """Month k = E[purchases by the end of month k] - E[... by the end of month k-1]: 30, 30, 30, 10 days."""
    params, by_definition = BY_DEFINITION[model]
    ends = [0, 30, 60, 90, 100]
    expected = [by_definition(params, ends[k], X, T_X, T) - by_definition(params, ends[k - 1], X, T_X, T)
                if ends[k - 1] else by_definition(params, ends[k], X, T_X, T) for k in range(1, 5)]
    monthly = clv.monthly_purchases(model, params, X, T_X, T, 100)
    np.testing.assert_allclose(monthly, np.array(expected), rtol=1e-9)
    assert np.all(monthly[0] > monthly[3])  # a 30-day month holds more than the 10-day remainder


@pytest.mark.parametrize("model", ["bgnbd", "pareto"])
def test_discount_is_applied_month_by_month(model):
    """Month k is discounted by 1.1^(-k/12); the months come from the definition, not from clv."""
    params, by_definition = BY_DEFINITION[model]
    ends = [0, 30, 60, 90, 100]
    by_hand = sum((by_definition(params, ends[k], X, T_X, T) - by_definition(params, ends[k - 1], X, T_X, T))
                  * SPEND * 1.1 ** (-k / 12) for k in range(1, 5))
    discounted = clv.clv(model, params, X, T_X, T, SPEND, 100, annual_discount=0.1)
    np.testing.assert_allclose(discounted, by_hand, rtol=1e-9)
    assert np.all(discounted < clv.clv(model, params, X, T_X, T, SPEND, 100))


def test_discounting_by_hand():
    """Each month's purchases discounted at its end, worked on paper: over 60 days at 12% a year, month 1
    counts 1.12^(-1/12) = 0.9906004 and month 2 1.12^(-2/12) = 0.9812891 of its value."""
    x, t_x, T = np.array([4.0]), np.array([120.0]), np.array([130.0])
    months = clv.monthly_purchases("pareto", PNBD, x, t_x, T, 60).ravel()
    assert len(months) == 2 and months.min() > 0
    value = clv.clv("pareto", PNBD, x, t_x, T, 10.0, 60, annual_discount=0.12)
    assert value[0] == pytest.approx(10.0 * (months[0] * 0.9906004 + months[1] * 0.9812891), rel=1e-6)
    assert clv.clv("pareto", PNBD, x, t_x, T, 10.0, 60)[0] == pytest.approx(10.0 * months.sum(), rel=1e-12)


def test_customer_order_is_kept():
    order = np.array([3, 0, 4, 2, 1])
    plain = clv.clv("pareto", PNBD, X, T_X, T, SPEND, 365)
    shuffled = clv.clv("pareto", PNBD, X[order], T_X[order], T[order], SPEND[order], 365)
    np.testing.assert_allclose(shuffled, plain[order], rtol=1e-15)
    assert plain[2] == plain[4]  # same history, same spend


def test_bad_arguments():
    with pytest.raises(ValueError):
        clv.clv("gamma_gamma", BG, X, T_X, T, SPEND, 365)
    with pytest.raises(ValueError):
        clv.clv("bgnbd", BG, X, T_X, T, SPEND, 0)
    with pytest.raises(ValueError):
        clv.clv("bgnbd", BG, X, T_X, T, SPEND, 365, annual_discount=-1.0)


@pytest.mark.parametrize("model, params", [("bgnbd", BG), ("pareto", PNBD)])
def test_clv_in_chunks_is_the_whole_and_twins_get_the_same_bits(model, params, monkeypatch):
    """clv works CHUNK distinct histories at a time (memory); the answer is the month-by-month sum
    computed for all at once, and customers with one history get one value, whichever chunk they are in."""
    rng = np.random.default_rng(7)
    # Many twins: most customers bought once, recently (computed one chunk at a time instead, twins in
    # different chunks differed in the last bit: 3 of these 64 histories).
    x = np.where(rng.random(5000) < 0.6, 0, rng.integers(1, 30, 5000)).astype(float)
    t_x = np.where(x > 0, rng.integers(1, 1000, 5000), 0).astype(float)
    T = t_x + rng.integers(0, 60, 5000)
    spend = rng.uniform(5, 80, 5000)
    per_month = clv.monthly_purchases(model, params, x, t_x, T, 365)
    factor = 1.1 ** (-np.arange(1, 14) / 12.0)
    whole = (factor[:, None] * per_month).sum(axis=0) * spend
    monkeypatch.setattr(clv, "CHUNK", 37)
    chunked = clv.clv(model, params, x, t_x, T, spend, 365, 0.1)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    unit = clv.clv(model, params, x, t_x, T, 1.0, 365, 0.1)
    key = np.rec.fromarrays([x, t_x, T])
    histories, counts = np.unique(key, return_counts=True)
    assert counts.max() > 1  # the draw has twins to compare
    for history in histories[counts > 1]:
        assert len(set(unit[key == history].tolist())) == 1, history
