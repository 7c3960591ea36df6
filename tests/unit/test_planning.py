"""Placements of a simulated fleet: every baseline by name, the planner's plan through a plan file,
its refinement by trial runs, and the queueing model checked against the simulator on one GPU."""

from __future__ import annotations

import pytest

from interfleet.proto import fleet_pb2
from planner.live_fleet import demand_of, live_inputs, placement_of
from planner.plan_file import read_plan, write_plan
from simulation import planning
from simulation.experiment import Setup, knee
from simulation.fleet_spec import GpuWorker, mixed_fleet

MODELS = {"mlp": 2, "tiny_cnn": 2, "transformer": 1}


@pytest.fixture(scope="module")
def setup(zoo) -> Setup:
    made = Setup.make(zoo, mixed_fleet(10, sorted(MODELS), seed=0), MODELS, hop_ms=0.05, heartbeat_s=0.002)
    made.train_predictor(planning=True)
    return made


@pytest.mark.parametrize("name", planning.BASELINE_PLACEMENTS)
def test_every_baseline_places_every_model_on_the_fleets_own_gpus(setup, name):
    fleet, _ = planning.placement(setup, name)
    assert {m for w in fleet for m in w.models} == set(MODELS)
    types = {w.worker_id: w.gpu for w in setup.fleet}
    assert all(types[w.worker_id] == w.gpu for w in fleet)


def test_a_plan_file_round_trips_and_simulates(setup, tmp_path):
    plan = planning.plan(setup)
    assert plan.scale > 0 and plan.bound_scale >= plan.scale - 1e-6
    write_plan(plan, tmp_path / "plan.json")
    fleet, _ = planning.placement(setup, str(tmp_path / "plan.json"))
    assert [(w.worker_id, w.models, w.batch_caps) for w in fleet] == [
        (g.gpu_id, g.models, g.batch_caps) for g in read_plan(tmp_path / "plan.json").gpus if g.models
    ]
    result = planning.with_placement(setup, fleet).run("speed-aware", 0.3 * plan.scale, 0.02, seed=1)
    assert result["requests"] > 0 and result["unanswered"] == 0
    (tmp_path / "bad.json").write_text('{"gpus": [{"gpu_id": "x"}]}')
    with pytest.raises(ValueError, match="is not a plan file"):
        planning.placement(setup, str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="unknown placement 'nowhere'"):
        planning.placement(setup, "nowhere")


def test_refinement_tries_every_shape_under_the_routing_and_keeps_one(setup):
    plan, trials = planning.refined_plan(setup, "least-loaded", window_s=0.02)
    shapes = [tuple(t["shape"]) for t in trials]
    # every shape whose program is feasible is tried (here all three models on one GPU miss their SLOs)
    assert set(shapes) <= set(planning.SHAPES) and len(set(shapes)) >= len(planning.SHAPES) - 1
    assert plan.scale in {t["predicted_scale"] for t in trials}
    assert {m for g in plan.gpus for m in g.models} == set(MODELS)


def test_the_queueing_model_is_within_a_third_of_the_simulated_knee_on_one_gpu(zoo, setup):
    """The capacity model, fed the device's true degradation, against the simulator on one GPU."""
    capacity = planning.capacity_model(setup, "true")
    terms = planning.device_terms_of(setup)
    for gpu, members in (("A100", ("mlp", "transformer")), ("T4", ("tiny_cnn",))):
        column = capacity.group(gpu, terms[gpu], members)
        total = sum(column.rates)
        mix = {m: r / total for m, r in zip(column.models, column.rates)}
        one = Setup.make(
            zoo, [GpuWorker("g0", gpu, members, column.batches)], mix, hop_ms=0.05, heartbeat_s=0.002
        )
        simulated, _ = knee(one, "least-loaded", total, 0.05, seed=3, resolution=0.05)
        assert 0.67 < simulated / total < 1.5, (gpu, members, simulated, total)


def test_the_live_fleet_is_read_off_heartbeats():
    a = fleet_pb2.WorkerState(worker_id="a", ready=True)
    a.device.name = "cpu"
    a.models.add(name="m", slo_ms=10.0, max_batch_size=8, solo_latency_ms=1.0, full_batch_latency_ms=3.0)
    a.load.add(model="m", throughput_rps=40.0)
    b = fleet_pb2.WorkerState(worker_id="b", ready=True)
    b.device.name = "cpu"
    b.load.add(model="m", throughput_rps=2.0)
    gone = fleet_pb2.WorkerState(worker_id="c", ready=False)
    assert demand_of([a, b]) == {"m": 42.0}
    assert placement_of([a, b, gone]) == {"a": frozenset({"m"}), "b": frozenset()}
    slots, terms, needs, profile = live_inputs([a, b, gone])
    assert [s.gpu_id for s in slots] == ["a", "b"]
    assert needs["m"].slo_ms == 10.0 and needs["m"].max_batch_size == 8
    # b never ran m, but shares a's device name: a's measurement is lent to it.
    assert profile[("m", "a")] == profile[("m", "b")]
    assert profile[("m", "a")][1] == 1.0 and profile[("m", "a")][8] == 3.0
    assert profile[("m", "a")][4] == pytest.approx(1.0 + 3 * 2.0 / 7)  # on the line between them


def test_a_profile_outlives_the_last_replica_on_its_device():
    """After a plan takes m off every cpu worker, the next plan may still put it back there."""
    a = fleet_pb2.WorkerState(worker_id="a", ready=True)
    a.device.name = "cpu"
    a.models.add(name="m", slo_ms=10.0, max_batch_size=8, solo_latency_ms=1.0, full_batch_latency_ms=3.0)
    g = fleet_pb2.WorkerState(worker_id="g", ready=True)
    g.device.name = "A100"
    g.models.add(name="m", slo_ms=10.0, max_batch_size=8, solo_latency_ms=0.2, full_batch_latency_ms=0.5)
    known: dict = {}
    live_inputs([a, g], known)
    del a.models[:]  # m moved off the only cpu worker
    _, _, needs, profile = live_inputs([a, g], known)
    assert set(needs) == {"m"}
    assert profile[("m", "a")][8] == 3.0 and profile[("m", "g")][8] == 0.5
    assert live_inputs([a, g])[3].get(("m", "a")) is None  # without the memory it would be lost


def test_a_mig_plan_simulates_one_worker_per_slice(zoo):
    made = Setup.make(zoo, mixed_fleet(5, sorted(MODELS), seed=0), MODELS, hop_ms=0.05, heartbeat_s=0.002)
    made.train_predictor(planning=True, extra_gpus=planning.mig_slices(made))
    mig = planning.plan(made, mig=True)
    split = [g for g in mig.gpus if g.partition]
    assert split  # here the transformer is worth seven 1g slices of the A100 and the H100
    fleet = planning.fleet_of(mig.gpus)
    assert len(fleet) == sum(g.slices for g in mig.gpus if g.models)
    assert all(g.gpu_type in planning.MIG_LAYOUTS for g in split)
    assert mig.scale >= planning.plan(made).scale * 0.999  # the whole-GPU columns are still there
    result = planning.with_placement(made, fleet).run("speed-aware", 0.3 * mig.scale, 0.01, seed=1)
    assert result["requests"] > 0 and result["unanswered"] == 0


def test_under_time_slicing_the_planner_prices_groups_by_taking_turns(zoo):
    """Time-slicing (each of k busy jobs at 1/k, less a context switch) makes a group far costlier
    than MPS does: the planner, fed the device's own rule, co-locates less, and the plan holds
    its predicted scale when the simulator runs it on time-sliced GPUs."""
    fleet = mixed_fleet(10, sorted(MODELS), seed=0)
    made = {
        sharing: Setup.make(zoo, fleet, MODELS, hop_ms=0.05, heartbeat_s=0.002, sharing=sharing)
        for sharing in ("mps", "time-slicing")
    }
    plans = {sharing: planning.plan(s, estimator="true") for sharing, s in made.items()}

    def models_per_gpu(plan) -> float:
        used = [g for g in plan.gpus if g.models]
        return sum(len(g.models) for g in used) / len(used)

    assert models_per_gpu(plans["time-slicing"]) < models_per_gpu(plans["mps"])
    sliced = made["time-slicing"]
    placed = planning.with_placement(sliced, planning.fleet_of(plans["time-slicing"].gpus))
    result = placed.run("speed-aware", 0.5 * plans["time-slicing"].scale, 0.02, seed=1)
    assert result["slo_attainment"] >= 0.99 and result["unanswered"] == 0
