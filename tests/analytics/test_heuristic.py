"""When a model can be fitted, and the usual gap between purchases."""



from crmcli.analytics import heuristic


def test_can_fit_needs_enough_repeat_buyers_and_share():
    assert heuristic.MIN_REPEAT_CUSTOMERS == 20
    assert not heuristic.can_fit([1] * 19 + [0] * 81)
    assert heuristic.can_fit([1] * 20 + [0] * 80)
    assert not heuristic.can_fit([1] * 25 + [0] * 275)  # 25 repeat buyers, but under 10%
    assert not heuristic.can_fit([])
    assert heuristic.MIN_CUSTOMERS == 100
    assert not heuristic.can_fit([1] * 99)  # every buyer came back, but 99 buyers are too few
    assert heuristic.can_fit([1] * 100)


def test_usual_gap():
    gap = heuristic.usual_gap([4, 2, 1, 0], [100, 10, 60, 0])
    assert gap.tolist() == [25.0, 5.0, 60.0, 25.0]  # the one-time buyer gets the median, 25
    assert heuristic.usual_gap([0, 0], [0, 0]).tolist() == [heuristic.DEFAULT_GAP_DAYS] * 2
    assert heuristic.usual_gap([5], [2]).tolist() == [heuristic.MIN_GAP_DAYS]  # never below a day
