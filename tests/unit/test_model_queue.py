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
