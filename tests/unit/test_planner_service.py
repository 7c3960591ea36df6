"""The planner service's re-planning over heartbeats: it plans once, holds while the demand stays
within its band or the cool-down runs, and moves models loads first. Workers are plain states and
moves are recorded instead of sent (the live calls are covered in tests/integration/test_model_moves.py)."""

from __future__ import annotations

import pytest

from interfleet.errors import Code, RemoteError
from interfleet.proto import fleet_pb2
from planner.config import PlannerConfig
from planner.replan import Move
from planner.service import PlannerService


def worker(worker_id: str, cores: list[int], models: dict[str, float]) -> fleet_pb2.WorkerState:
    state = fleet_pb2.WorkerState(worker_id=worker_id, address=f"{worker_id}:1", ready=True)
    state.device.name = f"cpu:{worker_id}"
    state.device.cpu.cpu_set.extend(cores)
    state.device.cpu.threads = 1
    for name, rps in models.items():
        state.models.add(
            name=name, slo_ms=20.0, max_batch_size=8, solo_latency_ms=1.0, full_batch_latency_ms=4.0
        )
        state.load.add(model=name, throughput_rps=rps)
    return state


@pytest.fixture
def service(clock):
    config = PlannerConfig(redis_url="redis://unused", drift=0.25, cooldown_s=30.0, max_moves_per_minute=10)
    planner = PlannerService(config, clock=clock)
    planner.calls = []

    async def call(move):
        """The move made on the plain states, as a worker would."""
        planner.calls.append((move.action, move.model, move.worker_id))
        state = next(s for s in planner.states if s.worker_id == move.worker_id)
        if move.action == "load":
            state.models.add(
                name=move.model, slo_ms=20.0, max_batch_size=8, solo_latency_ms=1.0, full_batch_latency_ms=4.0
            )
        else:
            kept = [m for m in state.models if m.name != move.model]
            del state.models[:]
            state.models.extend(kept)
        return state

    planner._call = call
    planner.answer = call
    return planner


def offered(service, rates: dict[str, float]) -> None:
    """Each model's demand, spread evenly over the workers serving it now."""
    for state in service.states:
        del state.load[:]
        hosted = [m.name for m in state.models]
        for model in hosted:
            hosts = sum(1 for s in service.states if any(m.name == model for m in s.models))
            state.load.add(model=model, throughput_rps=rates.get(model, 0.0) / hosts)


async def test_replans_once_then_holds_within_the_band_and_the_cooldown(service, clock):
    service.states = [worker("a", [0], {"m": 100.0, "n": 100.0}), worker("b", [1], {"m": 100.0})]
    await service.replan_once()
    first = list(service.calls)
    assert service.plan_json and service.planned_for == {"m": 200.0, "n": 100.0}
    loads = [i for i, c in enumerate(first) if c[0] == "load"]
    unloads = [i for i, c in enumerate(first) if c[0] == "unload"]
    assert not loads or not unloads or max(loads) < min(unloads)  # loads first

    service.calls.clear()
    offered(service, {"m": 220.0, "n": 90.0})
    clock.advance(60.0)
    await service.replan_once()  # 10% drift: inside the band; the fleet is at the plan already
    assert service.calls == [] and service.planned_for == {"m": 200.0, "n": 100.0}

    offered(service, {"m": 800.0, "n": 100.0})
    planned_at = service.gate.planned_at
    await service.replan_once()  # 4x: past the band, and the cool-down is over; once is a spike
    assert service.gate.planned_at == planned_at
    clock.advance(2.0)
    await service.replan_once()  # twice in a row: a shift
    assert service.gate.planned_at > planned_at
    assert service.planned_for == {"m": 800.0, "n": 100.0}

    clock.advance(5.0)
    offered(service, {"m": 100.0, "n": 100.0})
    before = service.gate.planned_at
    await service.replan_once()  # a big drift again, but within the cool-down: held
    assert service.gate.planned_at == before


async def test_an_unload_waits_for_the_load_that_replaces_it_and_stays_if_it_failed(service):
    """m moves from a to b: when b cannot load it, a keeps serving it."""
    service.states = [worker("a", [0], {"m": 50.0}), worker("b", [1], {})]

    async def call(move):
        service.calls.append((move.action, move.model, move.worker_id))
        if move.action == "load":
            raise RemoteError(Code.UNAVAILABLE, "out of memory")
        return fleet_pb2.WorkerState()

    service._call = call
    await service._apply([Move("load", "m", "b"), Move("unload", "m", "a")])
    assert service.calls == [("load", "m", "b")]
    assert [(m.action, m.outcome) for m in service.moves] == [
        ("unload", "held: no other replica serves the model")
    ]

    service.calls.clear()
    service._call = service.answer
    await service._apply([Move("load", "m", "b"), Move("unload", "m", "a")])
    assert service.calls == [("load", "m", "b"), ("unload", "m", "a")]


async def test_moves_the_budget_defers_are_made_on_later_passes_and_recorded_once(service, clock):
    service.budget.per_minute = 1
    light = {"m": 20.0, "n": 20.0, "o": 20.0}
    service.states = [worker("a", [0], light), worker("b", [1], light)]  # one worker carries it all
    await service.replan_once()
    made = list(service.calls)
    assert len(made) == 1  # one move a minute
    deferred = [m for m in service.moves if m.outcome.startswith("deferred")]
    for _ in range(3):
        clock.advance(10.0)
        await service.replan_once()  # within the minute: nothing more, and no new record
    assert (
        service.calls == made and [m for m in service.moves if m.outcome.startswith("deferred")] == deferred
    )
    for _ in range(6):
        clock.advance(60.0)
        offered(service, {m: 2 * r for m, r in light.items()})
        await service.replan_once()
    target = service._target.placement
    assert {s.worker_id: {m.name for m in s.models} for s in service.states if s.models} == {
        w: set(models) for w, models in target.items() if models
    }  # the fleet reached the plan, a move a minute
    assert len(service.calls) > 1 and deferred
