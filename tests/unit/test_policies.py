"""Routing policies over constructed candidate states."""

import collections

import pytest

from interfleet.errors import ConfigError
from router.policies import Candidate, make_policy
from router.policies.least_loaded import LeastLoaded
from router.policies.round_robin import RoundRobin


def candidates(*outstanding, in_flight=None):
    in_flight = in_flight or [0] * len(outstanding)
    return [
        Candidate(f"w{i}", outstanding=o, in_flight=f) for i, (o, f) in enumerate(zip(outstanding, in_flight))
    ]


def test_round_robin_cycles_each_model_independently():
    policy = RoundRobin()
    three = candidates(0, 0, 0)
    assert [policy.choose("a", three).worker_id for _ in range(4)] == ["w0", "w1", "w2", "w0"]
    assert policy.choose("b", three).worker_id == "w0"


def test_round_robin_ignores_load():
    policy = RoundRobin()
    busy_first = candidates(50, 0)
    assert {policy.choose("a", busy_first).worker_id for _ in range(2)} == {"w0", "w1"}


def test_least_loaded_picks_fewest_outstanding():
    assert LeastLoaded(seed=1).choose("m", candidates(3, 1, 2)).worker_id == "w1"


def test_least_loaded_breaks_ties_by_reported_in_flight():
    chosen = LeastLoaded(seed=1).choose("m", candidates(1, 1, 4, in_flight=[5, 2, 0]))
    assert chosen.worker_id == "w1"


def test_least_loaded_spreads_exact_ties():
    policy = LeastLoaded(seed=7)
    counts = collections.Counter(policy.choose("m", candidates(0, 0)).worker_id for _ in range(200))
    assert counts["w0"] > 60 and counts["w1"] > 60


def test_make_policy_by_name_and_unknown_name():
    assert isinstance(make_policy("least-loaded", {"seed": 3}), LeastLoaded)
    assert isinstance(make_policy("round-robin"), RoundRobin)
    with pytest.raises(ConfigError, match="unknown routing policy 'fastest'"):
        make_policy("fastest")
    with pytest.raises(ConfigError, match="bad policy_args"):
        make_policy("round-robin", {"seed": 1})


def test_speed_aware_over_every_candidate_herds_and_over_two_samples_spreads():
    fleet = [Candidate("fast", outstanding=0, solo_ms=0.1)] + [
        Candidate(f"slow{i}", outstanding=0, solo_ms=1.0) for i in range(7)
    ]
    every = make_policy("speed-aware", {"seed": 1})
    assert {every.choose("m", fleet).worker_id for _ in range(50)} == {"fast"}
    two = make_policy("speed-aware", {"seed": 1, "sample": 2})
    chosen = collections.Counter(two.choose("m", fleet).worker_id for _ in range(800))
    # The fast host wins whenever it is drawn (1 - 7/8 x 6/7 = 1/4 of the time), a slow one otherwise.
    assert 0.18 < chosen["fast"] / 800 < 0.32 and len(chosen) == 8
    with pytest.raises(ValueError, match="sample"):
        make_policy("speed-aware", {"sample": -1})
