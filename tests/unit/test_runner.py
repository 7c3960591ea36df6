"""The model runner's admission rules, with an injected clock and a session held on an Event."""

import asyncio
import threading

import numpy as np
import pytest
from fake_clock import FakeClock

from interfleet.errors import DeadlineExceeded, Internal, Overloaded
from interfleet.repository import ModelSpec
from services.worker.activity import DeviceActivity
from services.worker.batching import LatencyProfile, make_batcher
from services.worker.loaded_model import LoadedModel
from services.worker.runner import ModelRunner
from services.worker.tensors import DecodedRequest, TensorSpec


class GatedSession:
    """Stands in for an ONNX Runtime session: each run waits until the test opens the gate."""

    def __init__(self):
        self.gate = threading.Event()
        self.runs = 0

    def run(self, names, feeds):
        self.gate.wait(5)
        self.runs += 1
        return [np.zeros((1, 2), np.float32) for _ in names]


def make_runner(max_queue=2):
    session = GatedSession()
    model = LoadedModel(
        ModelSpec("m", path=None, slo_ms=10, max_batch_size=4),
        session,
        (TensorSpec("x", "FP32", (-1, 2)),),
        (TensorSpec("y", "FP32", (-1, 2)),),
    )
    records = []
    clock = FakeClock(100.0)
    profile = LatencyProfile(4)
    profile.seed({1: 0.001})
    runner = ModelRunner(
        model,
        "w0",
        "cpu",
        DeviceActivity(),
        records.append,
        max_queue,
        make_batcher("none", 4, slo_s=0.010),
        profile,
        clock=clock,
    )
    return runner, session, clock, records


REQUEST = DecodedRequest({"x": np.zeros((1, 2), np.float32)}, 1, ("y",))


async def test_full_queue_answers_resource_exhausted_at_once():
    runner, session, _, _ = make_runner(max_queue=1)
    await runner.start()
    running = asyncio.create_task(runner.infer(REQUEST, None))  # taken by the execution thread
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(runner.infer(REQUEST, None))  # fills the queue
    await asyncio.sleep(0)
    with pytest.raises(Overloaded, match="queue full"):
        await runner.infer(REQUEST, None)
    session.gate.set()
    await asyncio.gather(running, queued)
    await runner.stop(grace=1)


async def test_request_whose_deadline_passes_in_the_queue_is_not_run():
    runner, session, clock, records = make_runner()
    await runner.start()
    first = asyncio.create_task(runner.infer(REQUEST, None))
    await asyncio.sleep(0.05)
    late = asyncio.create_task(runner.infer(REQUEST, deadline=clock.now + 0.010))
    await asyncio.sleep(0)
    clock.now += 0.050  # 50 ms pass while the first request holds the thread
    session.gate.set()
    await first
    with pytest.raises(DeadlineExceeded, match="deadline cannot be met"):
        await late
    assert session.runs == 1 and len(records) == 1 and records[0].model == "m"
    await runner.stop(grace=1)


async def test_requests_that_all_missed_their_slo_are_still_served():
    """Adaptive batching marks them late; the runner must run them, not wait for another arrival."""
    session = GatedSession()
    model = LoadedModel(
        ModelSpec("m", path=None, slo_ms=10, max_batch_size=4),
        session,
        (TensorSpec("x", "FP32", (-1, 2)),),
        (TensorSpec("y", "FP32", (-1, 2)),),
    )
    clock = FakeClock(100.0)
    profile = LatencyProfile(4)
    profile.seed({1: 0.001, 4: 0.002})
    runner = ModelRunner(
        model,
        "w0",
        "cpu",
        DeviceActivity(),
        lambda record: None,
        8,
        make_batcher("adaptive", 4, slo_s=0.010),
        profile,
        clock=clock,
    )
    await runner.start()
    first = asyncio.create_task(runner.infer(REQUEST, None))
    await asyncio.sleep(0.05)
    queued = [asyncio.create_task(runner.infer(REQUEST, None)) for _ in range(3)]
    await asyncio.sleep(0)
    clock.now += 1.0  # far past every SLO while the first request holds the thread
    session.gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *queued), timeout=5)
    assert len(results) == 4
    await runner.stop(grace=1)


class BrokenOnce:
    """A batcher with a bug that shows once: the first decision raises."""

    def __init__(self, inner):
        self.inner = inner
        self.raised = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def decide(self, view, profile):
        if not self.raised:
            self.raised = True
            raise ZeroDivisionError("a bug in the batcher")
        return self.inner.decide(view, profile)


async def test_a_bug_in_the_batching_loop_answers_its_requests_and_the_loop_goes_on():
    runner, session, _, _ = make_runner()
    runner.batcher = BrokenOnce(runner.batcher)
    session.gate.set()
    await runner.start()
    with pytest.raises(Internal, match="ZeroDivisionError"):
        await asyncio.wait_for(runner.infer(REQUEST, None), 5)
    outputs, _ = await asyncio.wait_for(runner.infer(REQUEST, None), 5)  # the loop survived
    assert outputs and session.runs == 1
    await runner.stop(grace=1)
