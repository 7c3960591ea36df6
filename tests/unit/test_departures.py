"""Per-worker state of departed workers expires; a worker back in time keeps it."""

from router.departures import Departures
from router.stats import RouterStats


def test_a_worker_gone_past_expiry_is_forgotten_and_one_back_in_time_is_not(clock):
    stats = RouterStats()
    stats.dispatched["m", "a"] = 3
    stats.dispatched["m", "b"] = 4
    stats.predictions["m", "b"] = 1
    departures = Departures(expiry_s=10.0, clock=clock)
    departures.update({"a", "b"}, stats.forget_worker)
    clock.now = 1.0
    departures.update({"a"}, stats.forget_worker)  # b leaves
    clock.now = 5.0
    departures.update(set(), stats.forget_worker)  # a leaves
    clock.now = 10.5
    departures.update({"a"}, stats.forget_worker)  # a is back; b has been gone 9.5 s
    assert set(stats.dispatched) == {("m", "a"), ("m", "b")}
    clock.now = 11.0
    departures.update({"a"}, stats.forget_worker)
    assert set(stats.dispatched) == {("m", "a")} and not stats.predictions
