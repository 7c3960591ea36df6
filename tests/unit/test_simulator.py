"""The fleet simulator over emulated GPUs: every request accounted for, reproducible, and sane."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.capacity_bound import capacity_bound, model_capacity
from simulation.experiment import Setup, knee
from simulation.fleet_spec import GpuWorker, mixed_fleet
from simulation.outcomes import ANSWERED

MODELS = {"mlp": 1.0, "transformer": 1.0, "tiny_cnn": 1.0}


def setup_of(zoo, fleet) -> Setup:
    return Setup.make(zoo, fleet, MODELS, hop_ms=0.05)


def test_mixed_fleets_deal_types_in_turn_and_two_to_four_distinct_models_a_gpu():
    fleet = mixed_fleet(20, list(MODELS) + ["resnet18", "mobilenet"], seed=3)
    assert [w.gpu for w in fleet[:5]] == ["T4", "L4", "A10", "A100", "H100"]
    assert all(2 <= len(w.models) <= 4 and len(set(w.models)) == len(w.models) for w in fleet)


@pytest.mark.parametrize("policy", ["least-loaded", "speed-aware", "interference-aware (true degradation)"])
def test_every_request_is_answered_or_refused_and_runs_are_reproducible(zoo, policy):
    setup = setup_of(zoo, mixed_fleet(6, list(MODELS), seed=1))
    schedule = setup.schedule(rate=20_000, duration_s=0.2, seed=4)
    first = setup.simulation(setup.policy(policy, 4), 4).run(schedule)
    assert (first.outcome > 0).all()
    answered = first.outcome == ANSWERED
    assert answered.mean() > 0.95
    assert (first.finished[answered] > schedule.times[answered]).all()
    again = setup.simulation(setup.policy(policy, 4), 4).run(schedule)
    assert np.array_equal(first.outcome, again.outcome) and np.array_equal(first.finished, again.finished)


def test_an_idle_gpu_answers_in_its_solo_time_and_a_hop(zoo):
    setup = setup_of(zoo, [GpuWorker("a100-0", "A100", ("transformer",))])
    setup.mix = {"transformer": 1.0}
    result = setup.run("least-loaded", rate=50, duration_s=4.0, seed=2, warmup_s=0.0)
    solo_ms = setup.fastest_solo_ms()["transformer"]
    assert result["slo_attainment"] == 1.0
    assert result["p50_ms"] == pytest.approx(solo_ms + setup.hop_ms, rel=0.05)  # jitter is 4%
    assert result["mean_degradation"] == pytest.approx(1.0, abs=0.05)


def test_interference_aware_trains_on_the_emulated_profile_and_routes(zoo):
    setup = setup_of(zoo, mixed_fleet(4, list(MODELS), seed=1))
    score = setup.train_predictor()
    assert setup.training_rows > 200 and setup.co_located_share >= 0.2
    # Scored on (target, co-runner) combinations it never trained on, per GPU type.
    assert set(score) == {f"emulated:{g.name}" for g in setup.gpu_types()}
    assert all(s["rows"] > 0 and s["mape"] < 0.5 for s in score.values()), score
    result = setup.run("interference-aware (balanced)", rate=10_000, duration_s=0.2, seed=3)
    assert result["unanswered"] == 0 and result["slo_attainment"] > 0.9


def test_the_capacity_bound_is_one_and_each_policy_finds_its_own_knee_below_it(zoo):
    setup = setup_of(
        zoo, [GpuWorker("h100-0", "H100", ("mlp", "transformer")), GpuWorker("t4-1", "T4", ("mlp",))]
    )
    setup.mix = {"mlp": 0.5, "transformer": 0.5}
    bound = capacity_bound(
        setup.fleet, setup.mix, setup.device, setup.workloads, setup.settings, setup.hop_ms
    )
    # The transformer, on one GPU, binds: its best in-SLO batch throughput there, over its share.
    transformer = model_capacity(
        setup.device, setup.workloads["transformer"], "H100", setup.settings["transformer"], setup.hop_ms
    )
    assert bound == pytest.approx(transformer / 0.5 / 0.99)
    rate, runs = knee(setup, "speed-aware", bound / 20, duration_s=0.05, seed=1, resolution=0.05)
    assert 0 < rate < bound
    met = [r["rate_rps"] for r in runs if r["slo_attainment"] >= 0.99]
    missed = [r["rate_rps"] for r in runs if r["slo_attainment"] < 0.99]
    assert max(met) == rate and min(r for r in missed if r > rate) <= rate * 1.05
