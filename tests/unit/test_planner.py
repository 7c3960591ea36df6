"""The planner over plain data: its program solved exactly on instances small enough to enumerate,
its capacity model's queueing rule, and the baselines' own rules."""

from __future__ import annotations

import itertools

import pytest

from interfleet.devices import DeviceTerms
from planner.baselines import FirstFitPacking, LeastLoadedPlacement, RandomPlacement, ReplicateAll
from planner.capacity import CapacityModel, GroupCapacity, ModelNeeds
from planner.milp import Infeasible, fewest_gpus, max_scale
from planner.planner import GpuSlot, Planner

TERMS = {
    "fast": DeviceTerms(80, 1, 1 << 22, 0, 300.0, 2000.0),
    "slow": DeviceTerms(40, 1, 1 << 22, 0, 65.0, 320.0),
}
# Solo latency (ms) of each model at batches 1, 2, 4 on each type; "fast" is three times faster.
PROFILE = {
    (m, g): {b: base * (1 + 0.5 * (b - 1)) / (3.0 if g == "fast" else 1.0) for b in (1, 2, 4)}
    for m, base in (("a", 1.0), ("b", 2.0), ("c", 0.5))
    for g in TERMS
}
NEEDS = {m: ModelNeeds(m, slo, 4) for m, slo in (("a", 10.0), ("b", 12.0), ("c", 6.0))}


def pairwise(degradation: dict[frozenset[str], float]):
    """An estimator: each placement's degradation is the product over its co-runners of a fixed
    factor for that pair (1.0 where the pair is not listed)."""

    def estimate(placements):
        out = []
        for p in placements:
            value = 1.0
            for c in p.co_runners:
                value *= degradation.get(frozenset((p.target, c.model)), 1.0)
            out.append(value)
        return out

    return estimate


def enumerate_best(columns: list[GroupCapacity], counts: dict[str, int], demand: dict[str, float]) -> float:
    """The max-min scale by brute force: every way to give each GPU one column of its type, or none."""
    best = 0.0
    by_type = {g: [c for c in columns if c.gpu == g] for g in counts}
    choices = [by_type[g] + [None] for g in sorted(counts) for _ in range(counts[g])]
    for pick in itertools.product(*choices):
        carried = {m: sum(c.rate(m) for c in pick if c is not None) for m in demand}
        best = max(best, min(carried[m] / d for m, d in demand.items()))
    return best


def test_capacity_is_the_best_batch_whose_two_batch_times_fit_the_slo():
    model = CapacityModel(NEEDS, PROFILE, None, hop_ms=0.5, utilisation=0.8, tail=1.0)
    column = model.group("slow", TERMS["slow"], ("a",))
    # a on slow: T(b) = 1, 1.5, 2.5 ms; 2 T + 0.5 <= 10 holds for every b; b / T is largest at 4.
    assert column.batches == (4,)
    assert column.rates == pytest.approx((0.8 * 4 / 2.5e-3,))
    # c's SLO of 6 ms on slow: 2 x 1.25 + 0.5 fits at b = 4 (T = 1.25 ms).
    assert model.group("slow", TERMS["slow"], ("c",)).rates[0] == pytest.approx(0.8 * 4 / 1.25e-3)


def test_a_degradation_that_breaks_the_slo_makes_the_group_infeasible():
    model = CapacityModel(NEEDS, PROFILE, pairwise({frozenset("bc"): 8.0}), hop_ms=0.5, tail=1.0)
    together = model.group("slow", TERMS["slow"], ("b", "c"))
    # c beside b: 0.5 ms x 8 = 4 ms at batch 1, 2 x 4 + 0.5 > 6 ms: c cannot be served there.
    assert not together.feasible
    assert model.group("slow", TERMS["slow"], ("a", "c")).feasible


def test_an_estimator_that_cannot_describe_a_placement_is_an_error_not_a_silent_one():
    model = CapacityModel(NEEDS, PROFILE, lambda placements: None, hop_ms=0.5)
    with pytest.raises(ValueError, match="cannot describe a on fast"):
        model.group("fast", TERMS["fast"], ("a", "b"))


@pytest.mark.parametrize("counts", [{"fast": 1, "slow": 2}, {"fast": 2, "slow": 1}, {"fast": 2, "slow": 2}])
def test_the_program_finds_the_enumerated_optimum(counts):
    model = CapacityModel(
        NEEDS, PROFILE, pairwise({frozenset("ab"): 1.3, frozenset("bc"): 2.2, frozenset("ac"): 1.1}), 0.5
    )
    planner = Planner(model)
    demand = {"a": 3.0, "b": 1.0, "c": 2.0}
    columns = planner.columns(TERMS, sorted(demand))
    solution = max_scale(columns, counts, demand, gap=1e-9)
    assert solution.scale == pytest.approx(enumerate_best(columns, counts, demand), rel=1e-6)
    relaxed = max_scale(columns, counts, demand, integral=False)
    assert relaxed.scale >= solution.scale - 1e-6  # the LP relaxation bounds the integer program


def test_fewest_gpus_matches_enumeration_and_refuses_what_cannot_fit():
    model = CapacityModel(NEEDS, PROFILE, pairwise({frozenset("ab"): 1.5}), 0.5)
    planner = Planner(model)
    columns = planner.columns(TERMS, ["a", "b"])
    counts = {"fast": 2, "slow": 2}
    scale = enumerate_best(columns, counts, {"a": 1.0, "b": 1.0})
    demand = {"a": 0.6 * scale, "b": 0.6 * scale}
    solution = fewest_gpus(columns, counts, demand, gap=0.0)
    # The fewest GPUs by enumeration: the smallest number of used GPUs that carries the demand.
    fewest = min(
        sum(c is not None for c in pick)
        for pick in itertools.product(
            *[[c for c in columns if c.gpu == g] + [None] for g in ("fast",) * 2 + ("slow",) * 2]
        )
        if all(sum(c.rate(m) for c in pick if c is not None) >= demand[m] for m in demand)
    )
    assert sum(solution.counts) == fewest
    with pytest.raises(Infeasible):
        fewest_gpus(columns, counts, {"a": 2 * scale, "b": 2 * scale})


def test_a_live_plan_keeps_what_is_in_place_when_that_costs_no_gpu():
    """Two workers of one kind, each a type of its own (as live): either alone carries a and b.
    Told that w1 hosts them now, the fewest-GPU plan puts them on w1, and moves nothing; told
    that w1 hosts a only, still w1 (one load, not two); it never keeps a worker at a GPU's cost."""
    slots = [GpuSlot("w0", "w0"), GpuSlot("w1", "w1")]
    terms = {"w0": TERMS["fast"], "w1": TERMS["fast"]}
    profile = {(m, w): PROFILE[(m, "fast")] for m in NEEDS for w in terms}
    planner = Planner(CapacityModel(NEEDS, profile, None, 0.5))
    demand = {"a": 50.0, "b": 50.0}

    def hosts(keep):
        plan = planner.plan(slots, terms, demand, "fewest-gpus", bound=False, keep=keep)
        return {g.gpu_id: set(g.models) for g in plan.gpus if g.models}

    assert hosts({"w1": frozenset("ab")}) == {"w1": {"a", "b"}}
    assert hosts({"w1": frozenset("a"), "w0": frozenset()}) == {"w1": {"a", "b"}}
    assert hosts({"w0": frozenset("ab")}) == {"w0": {"a", "b"}}
    # One worker keeping its models would need both: the plan takes one, whichever is kept.
    assert len(hosts({"w0": frozenset("a"), "w1": frozenset("b")})) == 1


def test_a_plan_puts_the_counted_groups_on_the_inventory_and_reports_its_capacity():
    planner = Planner(CapacityModel(NEEDS, PROFILE, pairwise({frozenset("ab"): 1.2}), 0.5))
    inventory = [GpuSlot("f0", "fast"), GpuSlot("s0", "slow"), GpuSlot("f1", "fast")]
    plan = planner.plan(inventory, TERMS, {"a": 1.0, "b": 1.0})
    assert [g.gpu_id for g in plan.gpus] == ["f0", "s0", "f1"]
    assert all(g.models for g in plan.gpus)
    carried = {m: 0.0 for m in ("a", "b")}
    for g in plan.gpus:
        column = planner.capacity.group(g.gpu_type, TERMS[g.gpu_type], g.models)
        for m in g.models:
            carried[m] += column.rate(m)
    assert plan.capacity == pytest.approx(carried, rel=1e-3)
    assert min(carried.values()) == pytest.approx(plan.scale * 1.0, rel=1e-3)
    assert plan.bound_scale >= plan.scale - 1e-6
    one_each = planner.plan(inventory, TERMS, {"a": 1.0, "b": 1.0}, sizes=(1, 1))
    assert all(len(g.models) <= 1 for g in one_each.gpus)
    with pytest.raises(ValueError, match="no device description for GPU type"):
        planner.plan([GpuSlot("x", "unknown")], TERMS, {"a": 1.0})


def test_a_correction_lowers_one_member_of_one_group_only():
    planner = Planner(CapacityModel(NEEDS, PROFILE, None, 0.5))
    before = {(c.gpu, c.models): c for c in planner.columns(TERMS, ["a", "b"])}
    planner.correct("slow", ("b", "a"), "a", 0.5)
    after = {(c.gpu, c.models): c for c in planner.columns(TERMS, ["a", "b"])}
    assert after[("slow", ("a", "b"))].rate("a") == pytest.approx(
        0.5 * before[("slow", ("a", "b"))].rate("a")
    )
    assert after[("slow", ("a", "b"))].rate("b") == before[("slow", ("a", "b"))].rate("b")
    assert after[("fast", ("a", "b"))] == before[("fast", ("a", "b"))]


def test_baselines_follow_their_own_rules():
    inventory = [GpuSlot(f"g{i}", "fast" if i % 2 else "slow") for i in range(6)]
    demand = {"a": 4.0, "b": 1.0, "c": 1.0}
    assert all(g.models == ("a", "b", "c") for g in ReplicateAll().place(inventory, demand))
    random_gpus = RandomPlacement(seed=3).place(inventory, demand)
    assert {m for g in random_gpus for m in g.models} == set(demand)
    spread = LeastLoadedPlacement(per_gpu=1.0).place(inventory, demand)
    replicas = {m: sum(m in g.models for g in spread) for m in demand}
    assert replicas == {"a": 4, "b": 1, "c": 1}  # in proportion to demand, 6 replicas on 6 GPUs
    solo = CapacityModel(NEEDS, PROFILE, None, 0.5)
    packing = FirstFitPacking(solo, TERMS)
    packed = packing.place(inventory, demand)
    assert {m for g in packed for m in g.models} == set(demand)
    assert all(len(g.batch_caps) == len(g.models) for g in packed)
    exact = FirstFitPacking(solo, TERMS, fill=False).place(inventory, {"a": 100.0, "b": 100.0, "c": 100.0})
    assert sum(bool(g.models) for g in exact) == 1  # a small demand fits on the first (fast) GPU
    assert exact[1].models == ("a", "b", "c")


def test_types_per_model_keeps_each_models_replicas_on_so_many_gpu_types():
    planner = Planner(CapacityModel(NEEDS, PROFILE, pairwise({frozenset("ab"): 1.2}), 0.5))
    inventory = [GpuSlot(f"f{i}", "fast") for i in range(2)] + [GpuSlot(f"s{i}", "slow") for i in range(3)]
    demand = {"a": 1.0, "b": 1.0, "c": 1.0}
    free = planner.plan(inventory, TERMS, demand)
    one = planner.plan(inventory, TERMS, demand, types_per_model=1)
    for m in demand:
        assert len({g.gpu_type for g in one.gpus if m in g.models}) == 1
    assert one.scale <= free.scale + 1e-6
    assert one.bound_scale >= one.scale - 1e-6


def test_a_gpu_may_be_split_into_mig_slices_each_hosting_the_group():
    slice_terms = {**TERMS, "fast-1g": DeviceTerms(10, 1, 1 << 20, 0, 40.0, 250.0)}
    # On a seventh of the GPU a model runs twice as slow as on the whole of it (it cannot fill the
    # whole GPU): seven slices carry 3.5x the whole GPU's requests.
    profile = {
        **PROFILE,
        **{(m, "fast-1g"): {b: 2 * ms for b, ms in PROFILE[(m, "fast")].items()} for m in ("a", "b", "c")},
    }
    planner = Planner(CapacityModel(NEEDS, profile, None, 0.5), partitions={"fast": [("fast-1g", 7)]})
    columns = planner.columns(slice_terms, ["a", "b"], types={"fast"})
    whole = next(c for c in columns if c.models == ("a",) and not c.partition)
    split = next(c for c in columns if c.models == ("a",) and c.partition == "fast-1g")
    one_slice = planner.capacity.group("fast-1g", slice_terms["fast-1g"], ("a",))
    assert split.slices == 7 and split.rates[0] == pytest.approx(7 * one_slice.rates[0])
    assert split.rates[0] > whole.rates[0]
    plan = planner.plan([GpuSlot("f0", "fast"), GpuSlot("f1", "fast")], slice_terms, {"a": 1.0, "b": 1.0})
    assert all(g.partition == "fast-1g" and g.slices == 7 for g in plan.gpus)
    with pytest.raises(ValueError, match="no device description for MIG slice type fast-1g"):
        planner.plan([GpuSlot("f0", "fast")], TERMS, {"a": 1.0})
