"""The router's decision core decides the same way under the live dispatcher and under a fake clock.

The live path is the `Dispatcher` forwarding real request bytes over connections that answer
when the test says (a fake clock gives every answer its latency); the other path drives a
`RouterCore` directly with the same events, as the fleet simulator does. Each policy must choose
the same worker for every request on both paths.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from fake_clock import FakeClock
from tritonclient.grpc import service_pb2

from interfleet.proto import fleet_pb2
from router.core import RouterCore
from router.dispatcher import Dispatcher
from router.fleet_view import FleetView
from router.policies import make_policy
from router.stats import RouterStats

MODELS = ("resnet18", "mlp")
SOLO_MS = {
    "t4": {"resnet18": 3.0, "mlp": 0.3},
    "a100": {"resnet18": 1.0, "mlp": 0.2},
    "h100": {"resnet18": 0.8, "mlp": 0.2},
}


def view() -> FleetView:
    states = []
    for worker_id, solos in SOLO_MS.items():
        state = fleet_pb2.WorkerState(worker_id=worker_id, ready=True, address=f"{worker_id}:1")
        state.device.name = f"emulated:{worker_id.upper()}"
        state.device.gpu.sm_count = 80
        for model, ms in solos.items():
            state.models.add(
                name=model, version="1", solo_latency_ms=ms, max_batch_size=8, full_batch_latency_ms=ms * 3
            )
            state.load.add(model=model, busy_fraction=0.2)
        states.append(state)
    return FleetView.of(states)


def estimator(placements):
    # A stand-in for the predictor: each running co-runner adds its load x 0.5 to the slowdown.
    return [1.0 + 0.5 * sum(c.load for c in p.co_runners) for p in placements]


# (time ms, event): a request for a model arrives, or the n-th request is answered.
SCRIPT = [
    (0.0, ("send", "resnet18")),
    (0.1, ("send", "resnet18")),
    (0.2, ("send", "mlp")),
    (0.5, ("answer", 0)),
    (0.6, ("send", "resnet18")),
    (0.7, ("send", "mlp")),
    (0.9, ("answer", 1)),
    (1.0, ("answer", 2)),
    (1.1, ("send", "resnet18")),
    (1.3, ("answer", 3)),
    (1.4, ("send", "mlp")),
    (2.0, ("answer", 4)),
    (2.1, ("answer", 5)),
    (2.2, ("answer", 6)),
    (2.3, ("send", "resnet18")),
    (3.0, ("answer", 7)),
]
POLICIES = ["round-robin", "least-loaded", "power-of-two", "speed-aware", "interference-aware"]


def make(policy: str):
    args = {} if policy == "round-robin" else {"seed": 3}
    return make_policy(policy, args, estimator=estimator if policy == "interference-aware" else None)


class HeldConnection:
    """Answers each request when the script says; records where each went."""

    def __init__(self, worker_id: str, sent: list):
        self.worker_id, self.suffix, self._sent = worker_id, b"", sent

    async def infer(self, raw: bytes, timeout):
        answer = asyncio.get_running_loop().create_future()
        self._sent.append((self.worker_id, answer))
        return await answer


class Pool:
    def __init__(self, sent: list):
        self._connections = {w: HeldConnection(w, sent) for w in SOLO_MS}

    def get(self, worker_id: str) -> HeldConnection:
        return self._connections[worker_id]


async def live_choices(policy: str) -> list[str]:
    clock, sent = FakeClock(), []
    core = RouterCore(make(policy))
    dispatcher = Dispatcher(Pool(sent), core, RouterStats(), max_in_flight=100, clock=clock)
    core.update(view())
    dispatcher.on_view()
    tasks = []
    for at_ms, (kind, what) in SCRIPT:
        clock.now = at_ms / 1e3
        if kind == "send":
            request = service_pb2.ModelInferRequest(model_name=what)
            tasks.append(asyncio.ensure_future(dispatcher.infer(request.SerializeToString(), request, None)))
        else:
            sent[what][1].set_result(b"")
        for _ in range(5):  # let the dispatcher reach the connection, or finish the answer
            await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    return [worker_id for worker_id, _ in sent]


def replayed_choices(policy: str) -> list[str]:
    core = RouterCore(make(policy))
    core.update(view())
    decisions, choices = [], []
    for at_ms, (kind, what) in SCRIPT:
        if kind == "send":
            decision = core.route(what, None, at_ms / 1e3)
            decisions.append((decision, what, at_ms))
            choices.append(decision.worker.worker_id)
        else:
            decision, model, sent_ms = decisions[what]
            core.answered(decision, model, at_ms - sent_ms)
    return choices


@pytest.mark.parametrize("policy", POLICIES)
def test_the_live_dispatcher_and_a_replay_on_a_fake_clock_make_the_same_decisions(policy):
    live = asyncio.run(live_choices(policy))
    assert live == replayed_choices(policy)
    assert len(live) == sum(kind == "send" for _, (kind, _) in SCRIPT)


def test_candidates_are_sampled_when_a_model_has_many_hosts_and_ejected_workers_are_skipped():
    sampled = RouterCore(make("least-loaded"), max_candidates=2, seed=1)
    sampled.update(view())
    assert len(sampled.candidates("mlp", 0.0)) == 2
    core = RouterCore(make("least-loaded"), eject_s=5.0)
    core.update(view())
    decision = core.route("mlp", None, 0.0)
    core.failed(decision, "mlp", now=1.0, eject=True)
    assert core.outstanding[decision.worker.worker_id] == 0
    assert decision.worker.worker_id not in {c.worker_id for c in core.candidates("mlp", 2.0)}
    assert decision.worker.worker_id in {c.worker_id for c in core.candidates("mlp", 7.0)}


def test_a_batched_queue_drains_faster_than_one_request_after_another():
    core = RouterCore(make("speed-aware"))
    core.update(view())
    t4 = next(c for c in core.candidates("resnet18", 0.0) if c.worker_id == "t4")
    assert t4.drain_ms(1, 3.0) == pytest.approx(3.0)
    assert t4.drain_ms(8, 3.0) == pytest.approx(9.0)  # one full batch of 8: 3x solo
    assert t4.drain_ms(9, 3.0) == pytest.approx(12.0)  # and one more alone
    assert t4.drain_ms(4, 6.0) == pytest.approx(2 * (3.0 + 3 * 6.0 / 7))  # scaled with the degradation
    assert math.isclose(t4.drain_ms(1, 6.0), 6.0)
