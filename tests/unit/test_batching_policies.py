"""Batching decisions over constructed queues and profiles: no threads, no sleeps, no clock."""

import math

import pytest

from interfleet.errors import ConfigError
from services.worker.batching import LatencyProfile, QueueView, make_batcher
from services.worker.batching.arrival_rate import ArrivalRate

INF = math.inf


def gpu_like(max_batch=16) -> LatencyProfile:
    """10 ms + 1 ms per item: batching pays (16 items cost 26 ms instead of 176)."""
    profile = LatencyProfile(max_batch)
    profile.seed({1: 0.011, 4: 0.014, 16: 0.026})
    return profile


def cpu_like(max_batch=16) -> LatencyProfile:
    """Linear in batch size: batching buys nothing."""
    profile = LatencyProfile(max_batch)
    profile.seed({1: 0.010, 4: 0.040, 16: 0.160})
    return profile


def queue(now, arrivals, deadlines, items=None, rate=0.0):
    return QueueView(now, arrivals, deadlines, items or [1] * len(arrivals), rate)


def test_profile_interpolates_and_follows_observations():
    profile = gpu_like()
    assert profile.latency(8) == pytest.approx(0.018, rel=0.05)
    assert profile.throughput_gain(16) > 5 and cpu_like().throughput_gain(16) == pytest.approx(1.0, rel=0.01)
    for second in range(6):  # a co-tenant doubles batch-1 latency; within seconds the profile agrees
        profile.observe(1, 0.022, now=float(second))
    assert profile.latency(1) == pytest.approx(0.022, rel=0.1)


def test_lone_request_is_not_delayed_when_idle():
    adaptive = make_batcher("adaptive", 16, slo_s=0.100)
    decision = adaptive.decide(queue(0.0, [0.0], [0.100], rate=0.5), gpu_like())
    assert decision.take == 1 and decision.wait_until is None


def test_under_load_waits_no_later_than_head_deadline_minus_batch_latency_and_headroom():
    adaptive = make_batcher("adaptive", 16, slo_s=0.100)
    profile = gpu_like()
    decision = adaptive.decide(queue(0.0, [0.0, 0.0], [0.100, 0.105], rate=1000.0), profile)
    assert decision.take == 0
    assert decision.wait_until == pytest.approx(0.100 - 2 * profile.latency(3))


def test_runs_at_once_when_waiting_would_break_the_head_deadline():
    adaptive = make_batcher("adaptive", 16, slo_s=0.100)
    profile = gpu_like()
    head_deadline = 2 * profile.latency(3) - 0.001  # no time to wait for a third request
    decision = adaptive.decide(queue(0.0, [0.0, 0.0], [head_deadline, 0.2], rate=1000.0), profile)
    assert decision.take == 2 and decision.wait_until is None


def test_does_not_wait_at_light_load_even_when_an_arrival_is_expected():
    adaptive = make_batcher("adaptive", 16, slo_s=0.100)
    # 40 req/s x 11 ms = 0.44 of the device: below min_load, so the pair runs now.
    decision = adaptive.decide(queue(0.0, [0.0, 0.0], [0.100, 0.100], rate=40.0), gpu_like())
    assert decision.take == 2 and decision.wait_until is None


def test_never_waits_where_batching_buys_nothing():
    adaptive = make_batcher("adaptive", 16, slo_s=0.100)
    decision = adaptive.decide(queue(0.0, [0.0, 0.0], [0.1, 0.1], rate=5000.0), cpu_like())
    assert decision.wait_until is None and decision.take == 1  # both make it one at a time


def test_unmeetable_request_is_expired_at_once():
    adaptive = make_batcher("adaptive", 16, slo_s=0.100)
    decision = adaptive.decide(queue(1.0, [0.90, 0.95], [1.005, 1.100]), gpu_like())
    assert decision.expired == (0,) and decision.take == 1


def test_batch_size_serves_the_most_requests_within_deadlines():
    adaptive = make_batcher("adaptive", 4, slo_s=0.100)
    profile = cpu_like(4)  # 10 ms per item
    # Two urgent requests (due at 21 ms) and two relaxed ones (200 ms). All four at once finish at
    # 40 ms and the urgent two miss; the urgent two first (20 ms), then the others (40 ms), all meet.
    decision = adaptive.decide(queue(0.0, [0.0] * 4, [0.021, 0.021, 0.200, 0.200]), profile)
    assert decision.take == 2


def test_fixed_batcher_waits_for_delay_or_full_batch():
    fixed = make_batcher("fixed", 4, slo_s=0.1, args={"max_delay_ms": 5})
    assert fixed.decide(queue(0.001, [0.0], [INF]), gpu_like()).wait_until == pytest.approx(0.005)
    assert fixed.decide(queue(0.006, [0.0], [INF]), gpu_like()).take == 1
    assert fixed.decide(queue(0.001, [0.0] * 5, [INF] * 5), gpu_like()).take == 4


def test_aimd_grows_and_backs_off():
    aimd = make_batcher("aimd", 8, slo_s=0.020)
    for _ in range(5):
        aimd.observe(int(aimd.cap), 0.005)
    assert aimd.cap == 6
    aimd.observe(6, 0.050)  # over its 10 ms share of the SLO
    assert aimd.cap == pytest.approx(5.4)
    assert aimd.decide(queue(0.0, [0.0] * 9, [INF] * 9), gpu_like()).take == 5


def test_none_takes_one_and_unknown_policy_is_named():
    assert make_batcher("none", 8, 0.1).decide(queue(0.0, [0.0] * 3, [INF] * 3), gpu_like()).take == 1
    with pytest.raises(ConfigError, match="unknown batching policy 'greedy'"):
        make_batcher("greedy", 8, 0.1)


def test_ties_go_to_the_shortest_batch_when_bigger_ones_are_not_cheaper_per_item():
    adaptive = make_batcher("adaptive", 16, slo_s=1.0)
    relaxed = queue(0.0, [0.0] * 8, [1.0] * 8)
    assert adaptive.decide(relaxed, cpu_like()).take == 1  # linear profile: one at a time
    assert adaptive.decide(relaxed, gpu_like()).take == 8  # batching pays: take them all


def test_arrival_rate_tracks_bursts_and_drops_after_silence():
    rate = ArrivalRate()
    assert rate.per_second(0.0) == 0.0
    for i in range(50):
        rate.note(i * 0.001)  # 1,000 requests per second
    assert rate.per_second(0.049) == pytest.approx(1000, rel=0.01)
    assert rate.per_second(1.049) == pytest.approx(1.0, rel=0.01)  # a second of silence
