"""The worker's model queue, the pure core the live runner and the simulator share."""

from __future__ import annotations

import math

import pytest

from interfleet.errors import DeadlineExceeded, Overloaded
from services.worker.batching import LatencyProfile, make_batcher
from services.worker.batching.queue import ModelQueue


def queue(policy="fixed", max_queue=4, reject_late=False, **args) -> ModelQueue[str]:
    profile = LatencyProfile(4)
    profile.seed({1: 0.010, 4: 0.016})
    batcher = make_batcher(policy, 4, 0.1, args or ({"max_delay_ms": 0} if policy == "fixed" else {}))
    return ModelQueue(
        "m", batcher, profile, slo_s=0.1, max_queue=max_queue, reject_late=reject_late, where=" on worker w"
    )


def test_admission_refuses_a_full_queue_and_a_deadline_it_cannot_meet():
    q = queue(max_queue=2)
    q.admit("a", 1, now=0.0)
    q.admit("b", 1, now=0.0)
    with pytest.raises(Overloaded, match="queue full"):
        q.admit("c", 1, now=0.0)
    q = queue()
    with pytest.raises(DeadlineExceeded, match="rejected at once"):
        q.admit("late", 1, now=0.0, client_deadline=0.005)  # 10 ms alone, 5 ms left


def test_a_step_runs_a_batch_and_refuses_what_cannot_run_in_time():
    q = queue()
    for name, deadline in (("a", math.inf), ("b", 0.012), ("c", math.inf)):
        q.admit(name, 1, now=0.0, client_deadline=deadline)
    step = q.step(now=0.005)  # b would need 10 ms from 5 ms: past its 12 ms deadline
    assert [x.payload for x in step.refused] == ["b"]
    assert [x.payload for x in step.batch] == ["a", "c"] and step.items == 2
    q.started(step.batch, now=0.005)
    assert q.predicted_finish(0.005, 1) > 0.005 + 0.010  # the running batch is ahead of a new one
    q.finished(step.items, 0.020, now=0.025)
    assert q.profile.latency(2) == pytest.approx(0.020)
    assert len(q) == 0 and q.step(now=0.03).wait_until == math.inf


def test_requests_that_do_not_batch_together_are_cut_and_abandoned_ones_dropped():
    q = queue()
    q.admit("x1", 1, 0.0, signature=("x",))
    q.admit("y", 1, 0.0, signature=("y",))
    q.admit("x2", 1, 0.0, signature=("x",))
    q.admit("gone", 1, 0.0, signature=("x",))
    q.discard(lambda queued: queued.payload == "gone")
    assert [x.payload for x in q.step(0.0).batch] == ["x1"]
    assert [x.payload for x in q.step(0.0).batch] == ["y"]
    assert [x.payload for x in q.drain()] == ["x2"] and len(q) == 0


def test_in_flight_counts_queued_and_running_requests_until_answered():
    """The one rule the live and the simulated worker both report: admitted, not yet answered."""
    q = queue()
    for name in ("a", "b", "c"):
        q.admit(name, 1, now=0.0)
    assert q.in_flight == 3
    step = q.step(now=0.0)
    q.started(step.batch, now=0.0)
    assert q.in_flight == 3 and len(q) == 3 - len(step.batch)  # taken into the batch, still in flight
    q.finished(step.items, 0.010, now=0.010)
    assert q.in_flight == 3 - len(step.batch)
    rest = q.step(now=0.010)
    q.started(rest.batch, now=0.010)
    q.failed(now=0.011)
    assert q.in_flight == len(q)


def _on_time_share(return_hop_s: float, hop_s: float = 0.0006, slo_s: float = 0.001) -> float:
    """A steady stream (one request every 0.25 ms) through an adaptive queue, driven by a
    hand-stepped clock: the share of answers that reach the client within the SLO when each
    takes `hop_s` to get back and the queue is told `return_hop_s`."""
    profile = LatencyProfile(8)
    profile.seed({1: 0.0002, 4: 0.0003, 8: 0.0004})  # shorter than the hop, like mlp on a GPU
    q: ModelQueue[float] = ModelQueue(
        "m", make_batcher("adaptive", 8, slo_s), profile, slo_s, max_queue=64, return_hop_s=return_hop_s
    )
    arrivals = [i * 0.00025 for i in range(400)]
    answered: list[tuple[float, float]] = []  # (arrival, answer at the client)
    now, next_arrival, free_at, started = 0.0, 0, 0.0, 0.0
    running: list = []
    wake = math.inf
    while next_arrival < len(arrivals) or len(q) or running:
        now = min(
            arrivals[next_arrival] if next_arrival < len(arrivals) else math.inf, free_at if running else wake
        )
        if running and now >= free_at:
            q.finished(len(running), free_at - started, now)
            answered += [(x.payload, now + hop_s) for x in running]
            running = []
        while next_arrival < len(arrivals) and arrivals[next_arrival] <= now:
            q.admit(arrivals[next_arrival], 1, now)
            next_arrival += 1
        wake = math.inf
        if not running and len(q):
            step = q.step(now)
            if step.batch:
                running, started = step.batch, now
                q.started(running, now)
                free_at = now + profile.latency(step.items)
            else:
                wake = now if step.wait_until is None else step.wait_until
    return sum(1 for arrival, at in answered if at - arrival <= slo_s + 1e-9) / len(arrivals)


def test_batching_that_knows_the_return_hop_answers_in_time_where_blind_batching_is_late():
    # Blind, the batcher waits until the SLO leaves just the batch's own time, and every answer
    # then spends 0.6 ms more on its way back; told the hop, it runs at once.
    blind, aware = _on_time_share(return_hop_s=0.0), _on_time_share(return_hop_s=0.0006)
    assert aware >= 0.99 and blind < 0.75, (blind, aware)
