"""What runs beside a request: co-runners from the worker itself and from workers sharing its cores."""

import collections

import pytest

from interfleet.proto import fleet_pb2
from router.fleet_view import FleetView
from router.placements import PlacementBuilder


def worker(worker_id, cpus, threads, loads):
    state = fleet_pb2.WorkerState(worker_id=worker_id, ready=True)
    state.device.name = "cpu"
    state.device.cpu.cpu_set.extend(cpus)
    state.device.cpu.threads = threads
    state.device.cpu.l2_cache_bytes = 1 << 20
    for model, busy in loads.items():
        state.models.add(name=model, solo_latency_ms=2.0)
        state.load.add(model=model, busy_fraction=busy)
    return state


def test_co_runners_include_models_on_workers_sharing_the_cores_by_their_share():
    outstanding = collections.defaultdict(collections.Counter)  # worker -> model -> in flight
    builder = PlacementBuilder(lambda w: outstanding[w])
    builder.update(
        FleetView.of(
            [
                worker("core0", [0], 1, {"mobilenet": 0.5, "tiny_cnn": 0.0, "mlp": 0.3}),
                worker("core1", [1], 1, {"mobilenet": 0.9}),
                worker("both", [0, 1], 2, {"resnet18": 0.8, "mobilenet": 0.6}),
            ]
        )
    )
    p, beside = builder.placement("core0", "mobilenet", solo_ms=4.0)
    assert beside == ()  # this router has nothing in flight yet
    assert (p.target, p.solo_ms, p.cores, p.threads, p.l2_bytes) == ("mobilenet", 4.0, 1, 1, 1 << 20)
    loads = sorted((c.model, round(c.load, 3)) for c in p.co_runners)
    # its own model's queue is counted apart; idle tiny_cnn and core1 (another core) do not count;
    # heartbeat loads count at half weight; `both` reaches all of core0's one core.
    assert loads == [("mlp", 0.15), ("mobilenet", 0.3), ("resnet18", 0.4)]

    outstanding["core0"]["tiny_cnn"] = 1  # this router has requests running there right now
    outstanding["both"]["resnet18"] = 2
    outstanding["core0"]["mobilenet"] = 3  # queued ahead in the target's own queue: not "beside"
    p, beside = builder.placement("core0", "mobilenet", 4.0)
    assert ("tiny_cnn", 1.0) in {(c.model, c.load) for c in p.co_runners}
    assert sorted(beside) == [(2.0, 1.0), (2.0, 2.0)]  # (solo ms, count x share)

    wide, _ = builder.placement("both", "resnet18", solo_ms=9.0)
    assert wide.cores == 2 and wide.threads == 2
    assert sorted((c.model, c.load) for c in wide.co_runners) == pytest.approx(
        # core0 and core1 each reach one of its two cores: their models count at half
        [("mlp", 0.075), ("mobilenet", 0.225), ("mobilenet", 0.3), ("mobilenet", 0.5), ("tiny_cnn", 0.5)]
    )


def test_unknown_workers_or_solo_latencies_give_no_placement():
    builder = PlacementBuilder(lambda w: {})
    builder.update(FleetView.of([worker("core0", [0], 1, {"mlp": 0.1})]))
    assert builder.placement("gone", "mlp", 1.0) is None
    assert builder.placement("core0", "mlp", 0.0) is None


def test_an_unchanged_state_gives_the_same_placement_object_and_a_change_a_new_one():
    outstanding = collections.defaultdict(collections.Counter)
    builder = PlacementBuilder(lambda w: outstanding[w])
    builder.update(FleetView.of([worker("core0", [0], 1, {"mlp": 0.5, "tiny_cnn": 0.2})]))
    first = builder.placement("core0", "mlp", 1.0)
    assert builder.placement("core0", "mlp", 1.0) is first  # the scorer recognises it by identity
    outstanding["core0"]["tiny_cnn"] = 1
    busy = builder.placement("core0", "mlp", 1.0)
    assert busy is not first and busy[0].co_runners == (("tiny_cnn", 1, 1.0),)
    outstanding["core0"]["tiny_cnn"] = 0
    assert builder.placement("core0", "mlp", 1.0) is first
    builder.update(FleetView.of([worker("core0", [0], 1, {"mlp": 0.5, "tiny_cnn": 0.2})]))
    assert builder.placement("core0", "mlp", 1.0) is not first  # a new view starts over
