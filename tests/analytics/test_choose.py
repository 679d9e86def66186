"""--model auto (crmcli/analytics/choose.py): the BIC by hand, the tie order, unconverged fits left out,
scoring through the chosen parameters, and, on data simulated from each model, the model that generated
them chosen once the base is large enough."""

import math

import _simulate as sim
import numpy as np
import pytest

from crmcli.analytics import bgnbd, choose, clv, fitset, mbgnbd, pareto
from crmcli.analytics.fitting import FitResult

FITTERS = {"pareto": pareto, "bgnbd": bgnbd, "mbgnbd": mbgnbd}


def result(model, log_likelihood, params=None, converged=True, customers=1000, message="converged"):
    params = params or {"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0}
    return FitResult(model=model, params=params, log_likelihood=log_likelihood, customers=customers,
                     repeat_customers=customers // 2, converged=converged, message=message)


def three(pareto_ll, bgnbd_ll, mbgnbd_ll, **changes):
    fits = {"pareto": result("pareto", pareto_ll, {"r": 1.0, "alpha": 1.0, "s": 1.0, "beta": 1.0}),
            "bgnbd": result("bgnbd", bgnbd_ll), "mbgnbd": result("mbgnbd", mbgnbd_ll)}
    fits.update(changes)
    return fits


def test_bic_by_hand_and_the_lowest_wins():
    choice = choose.choose(three(-5000.0, -4990.0, -4995.0))
    # k ln n - 2 LL with k = 4, n = 1000: 27.631 + 2 |LL|.
    assert choice.params["bic"] == pytest.approx({"pareto": 10027.6310, "bgnbd": 10007.6310,
                                                  "mbgnbd": 10017.6310}, abs=1e-4)
    assert choice.params["chosen"] == "bgnbd" and choice.converged and choice.log_likelihood == -4990.0
    assert choice.message == ("chose bgnbd: lowest BIC (10,007.6) of pareto 10,027.6, bgnbd 10,007.6, mbgnbd "
                              "10,017.6 (BIC = k ln n - 2 log-likelihood, n = 1,000 customers)")


def test_the_pareto_limit_has_three_parameters_and_is_named_so():
    limit = result("pareto", -5000.0, {"r": 1.0, "alpha": 1.0, "mu": 0.01})
    choice = choose.choose(three(0, -5001.0, -5002.0, pareto=limit))
    # 3 ln 1000 + 10000 beats 4 ln 1000 + 10002: the one parameter fewer is worth ln n.
    assert choice.params["parameters"]["pareto"] == 3
    assert choice.params["bic"]["pareto"] == pytest.approx(3 * math.log(1000) + 10000.0)
    assert choice.params["chosen"] == "pareto" and choice.message.startswith("chose pareto_limit: lowest BIC")


def test_ties_go_in_the_fixed_order():
    tied = choose.choose(three(-5000.0, -5000.0, -5000.0))
    assert tied.params["chosen"] == "pareto" and "tied with bgnbd, mbgnbd" in tied.message
    # Within 0.01 of each other counts as a tie: float noise between machines does not flip the choice.
    nearly = choose.choose(three(-5000.0, -4999.998, -4999.999))
    assert nearly.params["chosen"] == "pareto"
    assert choose.choose(three(-5001.0, -5000.0, -5000.0)).params["chosen"] == "mbgnbd"
    assert choose.choose(three(-5001.0, -4999.0, -5000.0)).params["chosen"] == "bgnbd"


def test_an_unconverged_fit_is_no_candidate():
    better_but_unconverged = result("bgnbd", -4000.0, converged=False, message="the optimiser did not converge")
    choice = choose.choose(three(-5000.0, 0, -5010.0, bgnbd=better_but_unconverged))
    assert choice.params["chosen"] == "pareto" and choice.params["bic"]["bgnbd"] is None
    assert "bgnbd (did not converge)" in choice.message
    assert choose.candidate_why("bgnbd", choice.params, better_but_unconverged) == \
        "not a candidate: did not converge (the optimiser did not converge)"
    assert choose.candidate_why("pareto", choice.params, choice).startswith("chosen: lowest BIC, 20.0 below")
    assert choose.candidate_why("mbgnbd", choice.params, choice) == "not chosen: BIC 20.0 above pareto's"


def test_with_no_candidate_nothing_is_chosen_and_it_says_why():
    failed = {name: result(name, float("nan"), converged=False, message=f"{name} failed") for name in FITTERS}
    choice = choose.choose(failed)
    assert not choice.converged and choice.params["chosen"] == ""
    assert choice.message == "none of the candidate models converged (pareto: pareto failed; bgnbd: bgnbd " \
                             "failed; mbgnbd: mbgnbd failed)"


def test_auto_scores_with_the_chosen_model_s_own_functions():
    rng = np.random.default_rng(4)
    T = sim.observation_lengths(rng, 300)
    x, t_x = sim.mbgnbd(rng, 300, 0.5, 20.0, 0.9, 2.0, T)
    params = {"r": 0.5, "alpha": 20.0, "a": 0.9, "b": 2.0}
    for name, module in (("bgnbd", bgnbd), ("mbgnbd", mbgnbd)):  # the same parameter names, different models
        chosen = choose.ChosenParams(params, name)
        assert np.array_equal(fitset.MODELS["auto"].p_alive(chosen, x, t_x, T), module.p_alive(params, x, t_x, T))
        assert np.array_equal(clv.clv("auto", chosen, x, t_x, T, 10.0, 365),
                              clv.clv(name, params, x, t_x, T, 10.0, 365))
    assert not np.allclose(bgnbd.p_alive(params, x, t_x, T), mbgnbd.p_alive(params, x, t_x, T))
    with pytest.raises(ValueError, match="ChosenParams"):
        choose.p_alive(params, x, t_x, T)  # plain parameters do not say which model they are


def fit_all(x, t_x, T):
    return {name: module.fit(x, t_x, T) for name, module in FITTERS.items()}


def simulated(model, seed, n, params):
    rng = np.random.default_rng(seed)
    T = sim.observation_lengths(rng, n)
    x, t_x = getattr(sim, model)(rng, n, **params, T=T)
    return x, np.minimum(np.ceil(t_x), T), T  # whole days, as crm counts them


# Two parameter sets per model, so the test is not tuned to one generator: CDNOW-like estimates and a
# slower, more regular shop (in days).
GENERATORS = [
    ("pareto", dict(r=0.55, alpha=10.5, s=0.6, beta=11.7)),
    ("pareto", dict(r=1.97, alpha=36.5, s=0.85, beta=191.0)),
    ("bgnbd", dict(r=0.25, alpha=4.0, a=0.8, b=2.5)),
    ("bgnbd", dict(r=0.8, alpha=30.0, a=1.5, b=5.0)),
    ("mbgnbd", dict(r=0.525, alpha=43.3, a=0.891, b=1.614)),
    ("mbgnbd", dict(r=0.9, alpha=20.0, a=0.6, b=3.0)),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("model, params", GENERATORS, ids=[f"{m}-{i % 2}" for i, (m, _) in enumerate(GENERATORS)])
def test_auto_picks_the_model_that_generated_the_data(model, params, seed):
    # 20,000 customers: the smallest margin seen (Pareto/NBD's CDNOW-like data against MBG/NBD) is a BIC
    # of 7; at 5,000 it was 2, too close to call.
    fits = fit_all(*simulated(model, seed, 20_000, params))
    choice = choose.choose(fits)
    assert choice.params["chosen"] == model, choice.message
    converged = {name: value for name, value in choice.params["bic"].items() if value is not None}
    assert choice.params["bic"][model] == min(converged.values())


@pytest.mark.parametrize("seed", [1, 2])
def test_mbgnbd_beats_bgnbd_when_many_one_time_buyers_leave(seed):
    # a/(a+b) = 0.6: most customers leave right after a purchase, the first one included. BG/NBD calls
    # every one-time buyer alive; MBG/NBD's story is the data's, and its likelihood says so at 3,000.
    x, t_x, T = simulated("mbgnbd", seed, 3000, dict(r=0.7, alpha=15.0, a=1.5, b=1.0))
    assert np.mean(x == 0) > 0.5
    fits = {name: FITTERS[name].fit(x, t_x, T) for name in ("bgnbd", "mbgnbd")}
    assert fits["mbgnbd"].converged and fits["bgnbd"].converged
    assert fits["mbgnbd"].log_likelihood > fits["bgnbd"].log_likelihood + 10
