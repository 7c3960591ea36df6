"""The fleet simulator over emulated GPUs: every request accounted for, reproducible, and sane."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.experiment import Setup
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
