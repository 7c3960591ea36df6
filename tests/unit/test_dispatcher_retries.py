"""When a worker cannot be reached, the dispatcher retries on another only while the deadline leaves room.

Connections here fail or answer on the test's word and advance a fake clock by the time the
call took, so each case below is the exact timing it names: a failure early in a request's
deadline is saved on another worker, one too late for the fastest other host's recent latency
is answered DEADLINE_EXCEEDED saying so, and `max_attempts` bounds how many workers are tried.
"""

from __future__ import annotations

import asyncio

from fake_clock import FakeClock
from tritonclient.grpc import service_pb2

from interfleet.errors import Code, DeadlineExceeded, RemoteError, Unavailable
from interfleet.proto import fleet_pb2
from router.core import RouterCore
from router.dispatcher import Dispatcher
from router.fleet_view import FleetView
from router.policies import make_policy
from router.stats import RouterStats

P50_MS = {"w0": 2.0, "w1": 2.0, "w2": 2.0}


def view() -> FleetView:
    states = []
    for worker_id, p50_ms in P50_MS.items():
        state = fleet_pb2.WorkerState(worker_id=worker_id, ready=True, address=f"{worker_id}:1")
        state.models.add(name="mlp", version="1", solo_latency_ms=1.0)
        state.load.add(model="mlp", p50_latency_ms=p50_ms)
        states.append(state)
    return FleetView.of(states)


class ScriptedConnection:
    """Takes `ms` of the fake clock, then fails UNAVAILABLE if the worker is down, else answers."""

    def __init__(self, worker_id: str, clock: FakeClock, script: dict[str, tuple[float, bool]], calls: list):
        self.worker_id, self.suffix = worker_id, b""
        self._clock, self._script, self._calls = clock, script, calls

    async def infer(self, raw: bytes, timeout):
        ms, down = self._script[self.worker_id]
        self._calls.append(self.worker_id)
        self._clock.advance(ms / 1e3)
        if down:
            raise RemoteError(Code.UNAVAILABLE, "Socket closed")
        return b""


class Pool:
    def __init__(self, clock, script, calls):
        self._connections = {w: ScriptedConnection(w, clock, script, calls) for w in P50_MS}

    def get(self, worker_id: str) -> ScriptedConnection:
        return self._connections[worker_id]


def dispatch(script: dict[str, tuple[float, bool]], timeout_ms: float, max_attempts: int = 3):
    """Send one mlp request with a deadline `timeout_ms` away; the workers tried, and the error if any."""
    clock, calls = FakeClock(), []
    # Round-robin sends the first try to w0; a retry goes to any worker not tried yet.
    core = RouterCore(make_policy("round-robin"))
    stats = RouterStats()
    dispatcher = Dispatcher(
        Pool(clock, script, calls), core, stats, max_in_flight=10, clock=clock, max_attempts=max_attempts
    )
    core.update(view())
    dispatcher.on_view()
    request = service_pb2.ModelInferRequest(model_name="mlp")
    try:
        asyncio.run(dispatcher.infer(request.SerializeToString(), request, timeout_ms / 1e3))
    except (DeadlineExceeded, Unavailable) as error:
        return calls, error, stats.retries["mlp"]
    return calls, None, stats.retries["mlp"]


def test_a_worker_that_fails_early_in_the_deadline_is_retried_on_another_and_the_request_is_served():
    calls, error, retries = dispatch({"w0": (0.5, True), "w1": (2.0, False), "w2": (2.0, False)}, 10.0)
    assert error is None
    assert calls[0] == "w0" and len(calls) == 2 and calls[1] != "w0"
    assert retries == 1


def test_a_failure_too_late_for_another_hosts_latency_is_answered_deadline_exceeded_saying_why():
    # 8.5 ms of 10 gone when w0 fails: 1.5 ms left, the other hosts' p50 is 2 ms.
    calls, error, retries = dispatch({"w0": (8.5, True), "w1": (2.0, False), "w2": (2.0, False)}, 10.0)
    assert calls == ["w0"]
    assert isinstance(error, DeadlineExceeded)
    assert "worker w0 failed a mlp request (UNAVAILABLE: Socket closed)" in error.message
    assert "1.50 ms of the deadline left, less than the 2.00 ms the fastest other host takes" in error.message
    assert retries == 0


def test_max_attempts_bounds_the_workers_tried():
    down = {w: (0.1, True) for w in P50_MS}
    calls, error, _ = dispatch(down, 100.0, max_attempts=2)
    assert calls[0] == "w0" and len(set(calls)) == len(calls) == 2
    assert isinstance(error, Unavailable)
    assert "2 worker(s) tried (max_attempts)" in error.message
    calls, error, retries = dispatch(down, 100.0, max_attempts=3)
    assert sorted(calls) == ["w0", "w1", "w2"]
    assert retries == 2


def test_a_request_without_a_deadline_is_retried_on_another_worker():
    clock, calls = FakeClock(), []
    core = RouterCore(make_policy("round-robin"))
    script = {"w0": (0.1, True), "w1": (0.1, False), "w2": (0.1, False)}
    dispatcher = Dispatcher(Pool(clock, script, calls), core, RouterStats(), max_in_flight=10, clock=clock)
    core.update(view())
    dispatcher.on_view()
    request = service_pb2.ModelInferRequest(model_name="mlp")
    asyncio.run(dispatcher.infer(request.SerializeToString(), request, None))
    assert calls[0] == "w0" and len(calls) == 2 and calls[1] != "w0"
