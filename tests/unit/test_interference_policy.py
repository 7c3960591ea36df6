"""The interference-aware policy and power-of-two choices, over constructed candidate states."""

import collections

import pytest

from interfleet.errors import ConfigError
from interfleet.placement import CoRunner, Placement
from router.policies import Candidate, NoWorkerMeetsDeadline, RouteRequest, make_policy
from router.policies.interference_aware import InterferenceAware
from router.policies.overhead import OverheadModel
from router.policies.power_of_two import PowerOfTwoChoices


def placement(model="mobilenet", solo_ms=4.0, co=()):
    return Placement(
        target=model,
        batch=1,
        solo_ms=solo_ms,
        co_runners=tuple(co),
        cores=1,
        threads=1,
        l2_bytes=1 << 20,
        l3_bytes=1 << 25,
    )


def candidate(worker, solo_ms, co=(), ahead=0, outstanding=0):
    return Candidate(
        worker,
        outstanding=outstanding,
        outstanding_model=ahead,
        solo_ms=solo_ms,
        placement=placement(solo_ms=solo_ms, co=co),
    )


def heavy_neighbour_estimator(placements):
    """Stands in for the degradation model: each unit of co-runner load doubles the latency."""
    return [1.0 + sum(c.load for c in p.co_runners) for p in placements]


def policy(**kwargs):
    return InterferenceAware(hop_ms=0.0, estimator=heavy_neighbour_estimator, **{"explore": 0.0, **kwargs})


def test_prefers_the_idle_fast_device():
    decision = policy().decide(RouteRequest("mobilenet"), [candidate("slow", 10.0), candidate("fast", 4.0)])
    assert decision.worker.worker_id == "fast"
    assert decision.predicted_ms == pytest.approx(4.0)
    assert dict(decision.predictions) == pytest.approx({"slow": 10.0, "fast": 4.0})


def test_avoids_the_device_where_a_heavy_co_runner_is_active():
    busy = candidate("fast-but-busy", 4.0, co=[CoRunner("resnet18", 1, 1.0)])  # 4 ms x 2
    decision = policy().decide(RouteRequest("mobilenet"), [busy, candidate("slower-idle", 6.0)])
    assert decision.worker.worker_id == "slower-idle"


def test_counts_the_requests_already_queued_there():
    decision = policy().decide(
        RouteRequest("mobilenet"), [candidate("fast", 4.0, ahead=3), candidate("slow", 10.0)]
    )
    assert decision.worker.worker_id == "slow"  # 4 x (3 + 1) = 16 ms against 10 ms


def test_a_heavy_request_leaves_the_cores_to_the_small_requests_running_there():
    # `wide` spans both cores and would finish it first; ten small requests run on those cores.
    wide = Candidate(
        "wide", outstanding=0, solo_ms=26.0, placement=placement(solo_ms=26.0), beside=((2.0, 10.0),)
    )
    narrow = Candidate(
        "narrow", outstanding=0, solo_ms=40.0, placement=placement(solo_ms=40.0), beside=((2.0, 1.0),)
    )
    decision = policy().decide(RouteRequest("resnet18"), [wide, narrow])
    assert decision.worker.worker_id == "narrow"  # 40 + 1 x 2 against 26 + 10 x 2
    assert decision.predicted_ms == pytest.approx(40.0)
    alone = [
        Candidate("wide", 0, solo_ms=26.0, placement=placement(solo_ms=26.0)),
        Candidate("narrow", 0, solo_ms=40.0, placement=placement(solo_ms=40.0)),
    ]
    assert policy().decide(RouteRequest("resnet18"), alone).worker.worker_id == "wide"
    # A worker that would miss the deadline is not chosen for being kind to its neighbours.
    assert (
        policy().decide(RouteRequest("resnet18", budget_ms=30.0), [wide, narrow]).worker.worker_id == "wide"
    )


def test_rejects_when_no_worker_meets_the_deadline_or_sends_to_the_least_bad():
    candidates = [candidate("a", 10.0), candidate("b", 6.0)]
    with pytest.raises(NoWorkerMeetsDeadline, match=r"3\.0 ms left, fastest predicted 6\.0 ms on worker b"):
        policy().decide(RouteRequest("mobilenet", budget_ms=3.0), candidates)
    assert (
        policy(on_unmeetable="least-bad").decide(RouteRequest("mobilenet", 3.0), candidates).worker.worker_id
        == "b"
    )
    assert policy().decide(RouteRequest("mobilenet", budget_ms=7.0), candidates).worker.worker_id == "b"


def test_falls_back_to_least_loaded_without_a_model_or_a_solo_latency():
    no_model = InterferenceAware(estimator=lambda placements: None)
    candidates = [candidate("busy", 4.0, outstanding=5), candidate("idle", 10.0, outstanding=0)]
    decision = no_model.decide(RouteRequest("mobilenet"), candidates)
    assert decision.worker.worker_id == "idle" and decision.predicted_ms is None
    unknown_solo = [candidate("busy", 4.0, outstanding=5), Candidate("idle", outstanding=0)]
    assert policy().decide(RouteRequest("mobilenet"), unknown_solo).worker.worker_id == "idle"
    assert InterferenceAware().choose("mobilenet", candidates).worker_id == "idle"  # no estimator at all
    assert no_model.fallbacks == 1


def test_online_correction_steers_away_from_an_interfered_worker():
    corrected = policy(correction=lambda worker: 3.0 if worker == "fast" else 1.0)
    decision = corrected.decide(RouteRequest("mobilenet"), [candidate("fast", 4.0), candidate("slow", 10.0)])
    assert decision.worker.worker_id == "slow"
    assert decision.predicted_ms == pytest.approx(10.0) and decision.uncorrected_ms == pytest.approx(10.0)
    assert dict(decision.predictions)["fast"] == pytest.approx(12.0)


def test_overhead_is_the_probed_hop_until_answers_teach_it():
    ia = InterferenceAware(hop_ms=0.5, estimator=heavy_neighbour_estimator)
    probed = Candidate(
        "w", outstanding=1, outstanding_model=1, solo_ms=2.0, hop_ms=0.8, placement=placement()
    )
    decision = ia.decide(RouteRequest("m"), [probed])
    assert decision.predicted_ms == pytest.approx(0.8 + 2 * 2.0)  # hop + (ahead + 1) x service
    for _ in range(50):
        ia.observe(decision, observed_ms=6.0)  # answers take 2 ms beyond compute
    assert ia.decide(RouteRequest("m"), [probed]).predicted_ms == pytest.approx(2.0 + 2 * 2.0)


def test_overhead_model_fits_a_fixed_part_and_a_cost_per_other_request():
    model = OverheadModel(decay=0.999)
    assert model.predict(3, probed_ms=0.7) == 0.7 and OverheadModel(prior_ms=0.4).predict(3) == 0.4
    for i in range(400):
        others = i % 5
        model.observe(others, 1.0 + 0.5 * others + (0.1 if i % 2 else -0.1))
    assert model.fixed_ms == pytest.approx(1.0, abs=0.05) and model.per_other_ms == pytest.approx(
        0.5, abs=0.02
    )
    assert model.predict(4) == pytest.approx(3.0, abs=0.1)
    flat = OverheadModel()
    for _ in range(10):
        flat.observe(0, 2.0)  # no spread in `others` yet: no slope
    assert (flat.fixed_ms, flat.per_other_ms) == (pytest.approx(2.0), 0.0)


def test_built_by_name_and_bad_arguments_are_config_errors():
    assert isinstance(make_policy("interference-aware", {"on_unmeetable": "least-bad"}), InterferenceAware)
    assert isinstance(make_policy("power-of-two", {"seed": 1}), PowerOfTwoChoices)
    with pytest.raises(ConfigError, match="on_unmeetable must be one of reject, least-bad"):
        make_policy("interference-aware", {"on_unmeetable": "drop"})


def test_power_of_two_picks_the_shorter_queue_of_two_samples():
    p2c = PowerOfTwoChoices(seed=3)
    two = [Candidate("a", outstanding=4), Candidate("b", outstanding=1)]
    assert {p2c.choose("m", two).worker_id for _ in range(20)} == {"b"}
    four = [Candidate(f"w{n}", outstanding=n) for n in range(4)]
    counts = collections.Counter(p2c.choose("m", four).worker_id for _ in range(2000))
    assert counts["w3"] == 0  # the longest queue loses whichever it is paired with
    assert counts["w0"] > counts["w1"] > counts["w2"] > 0
    assert p2c.choose("m", [Candidate("only", outstanding=9)]).worker_id == "only"


def test_a_small_share_of_decisions_explores_so_every_worker_keeps_giving_evidence():
    explorer = policy(explore=0.05, seed=3)
    candidates = [candidate("fast", 4.0), candidate("slow", 10.0), candidate("slower", 12.0)]
    chosen = collections.Counter(
        explorer.decide(RouteRequest("mobilenet"), candidates).worker.worker_id for _ in range(4000)
    )
    assert 0.93 < chosen["fast"] / 4000 < 0.99 and chosen["slow"] > 0 and chosen["slower"] > 0
    # Never to a worker predicted to miss the deadline.
    budget = RouteRequest("mobilenet", budget_ms=5.0)
    assert {explorer.decide(budget, candidates).worker.worker_id for _ in range(500)} == {"fast"}


def test_the_balanced_objective_spreads_over_workers_with_headroom_and_vetoes_the_rest():
    balanced = policy(objective="balanced", headroom=0.8)
    busy_fast = candidate("fast", 2.0, outstanding=3)
    idle_slow = candidate("slow", 6.0)
    too_slow = candidate("t4", 9.0, outstanding=0)
    # Fastest would take `fast` (predicted 2 ms); balanced takes the idle one that still has headroom.
    choice = balanced.decide(RouteRequest("mobilenet", budget_ms=10.0), [busy_fast, idle_slow, too_slow])
    assert choice.worker.worker_id == "slow"  # 6 <= 0.8 x 10; the T4's 9 ms is vetoed
    assert (
        policy().decide(RouteRequest("mobilenet", budget_ms=10.0), [busy_fast, idle_slow]).worker.worker_id
        == "fast"
    )
    # With no worker inside the headroom, the fastest that meets the deadline.
    tight = balanced.decide(RouteRequest("mobilenet", budget_ms=7.0), [too_slow, idle_slow])
    assert tight.worker.worker_id == "slow"  # 6 ms meets 7 but not 0.8 x 7; the T4 misses
    with pytest.raises(ConfigError, match="objective"):
        policy(objective="cheapest")
