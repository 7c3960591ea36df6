"""Re-planning a live fleet: the hysteresis gate, the order of moves, the budget of moves."""

from __future__ import annotations

from planner.replan import Move, MoveBudget, ReplanGate, ordered_moves


def test_the_first_demand_always_plans_then_only_a_drift_past_the_threshold_does():
    gate = ReplanGate(drift=0.25, cooldown_s=60.0)
    assert gate.due({"a": 100.0}, now=0.0)
    gate.planned({"a": 100.0, "b": 50.0}, now=0.0)
    assert not gate.due({"a": 120.0, "b": 55.0}, now=100.0)  # 20% and 10%: within the band
    assert gate.due({"a": 130.0, "b": 50.0}, now=100.0)  # 30%
    assert abs(gate.drift_of({"a": 130.0, "b": 50.0}) - 0.3) < 1e-9


def test_a_light_model_s_counting_noise_widens_its_band():
    """Over a 10 s window 4.5 req/s is 45 requests, a count whose noise alone moves 15%: its
    band is 3 standard errors (45%); a model at 1,000 req/s keeps the 25% band."""
    gate = ReplanGate(drift=0.25, cooldown_s=0.0, window_s=10.0)
    gate.planned({"light": 4.5, "heavy": 1000.0}, now=0.0)
    assert not gate.due({"light": 6.0, "heavy": 1000.0}, now=1.0)  # +33%: within its noise
    assert gate.due({"light": 7.0, "heavy": 1000.0}, now=1.0)  # +56%: past it
    assert gate.due({"light": 4.5, "heavy": 1300.0}, now=1.0)  # +30% of a heavy model: past the band
    assert ReplanGate(drift=0.25, cooldown_s=0.0, window_s=10.0).due({"light": 1.0}, now=0.0)  # first plan


def test_with_persist_a_drift_must_hold_on_consecutive_checks():
    gate = ReplanGate(drift=0.25, cooldown_s=0.0, persist=2)
    assert gate.due({"a": 100.0}, now=0.0)  # the first plan never waits
    gate.planned({"a": 100.0}, now=0.0)
    assert not gate.due({"a": 200.0}, now=1.0)  # one reading past the band
    assert not gate.due({"a": 100.0}, now=2.0)  # and back: a spike
    assert not gate.due({"a": 200.0}, now=3.0)
    assert gate.due({"a": 210.0}, now=4.0)  # held twice in a row


def test_a_large_drift_waits_out_the_cooldown():
    gate = ReplanGate(drift=0.25, cooldown_s=60.0)
    gate.planned({"a": 100.0}, now=0.0)
    assert not gate.due({"a": 500.0}, now=30.0)
    assert gate.due({"a": 500.0}, now=60.0)


def test_a_model_that_starts_or_stops_receiving_traffic_is_a_full_drift_idle_noise_is_none():
    gate = ReplanGate(drift=0.25, cooldown_s=0.0, floor_rps=1.0)
    gate.planned({"a": 100.0, "b": 0.0}, now=0.0)
    assert gate.drift_of({"a": 100.0, "b": 5.0}) == 1.0
    assert gate.drift_of({"a": 100.0}) == 0.0
    assert gate.drift_of({"a": 100.0, "b": 0.4}) == 0.0  # under the floor: still idle
    gate.planned({"a": 100.0, "b": 5.0}, now=0.0)
    assert gate.drift_of({"a": 100.0, "b": 0.0}) == 1.0


def test_loads_come_before_unloads_and_a_model_in_use_keeps_a_replica():
    current = {"w1": frozenset({"a", "b"}), "w2": frozenset({"c"})}
    target = {"w1": {"a": 8}, "w2": {"b": 4}}
    moves, held = ordered_moves(current, target, in_use=frozenset({"a", "b", "c"}))
    assert moves == [Move("load", "b", "w2", 4), Move("unload", "b", "w1")]
    # c is in use and the target has no replica of it: its only one stays.
    assert held == [Move("unload", "c", "w2")]
    moves, held = ordered_moves(current, target, in_use=frozenset({"a", "b"}))
    assert moves[-1] == Move("unload", "c", "w2") and not held


def test_the_budget_allows_so_many_moves_in_any_sliding_minute():
    budget = MoveBudget(per_minute=2)
    assert budget.take(0.0) and budget.take(10.0)
    assert not budget.take(59.0)
    assert budget.take(60.0)  # the first has left the window
    assert not budget.take(65.0)
