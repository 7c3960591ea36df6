"""Placements of a simulated fleet: the planner's and the baselines', over the fleet's own GPUs.

The planner needs what a real fleet would measure: each model's solo latency at each batch size
on each GPU type (`solo_profile`, the median of lone runs on the emulated device, as a worker
profiles itself at start-up), how much a batch's duration spreads (`tail_factor`), and a
degradation estimator (the setup's trained predictor; or, for the "true degradation" variant,
the device model's own expectation). Everything else it decides from.

`placement(setup, name)` returns the fleet with the named placement on the same GPUs:

- `static`: the fleet file's as it is (`mixed_fleet`: 2-4 models a GPU, dealt evenly);
- `replicate-all`, `random`, `least-loaded`, `first-fit`: `planner.baselines`;
- `planned`: the planner (max-scale over the setup's demand mix), on the predictor;
- `planned (true degradation)`: the same planner fed the device model's expected degradation;
- `planned (MIG)`: the planner free to split A100s and H100s into MIG slices (`MIG_LAYOUTS`;
  the predictor should then know the slice types: `train_predictor(extra_gpus=mig_slices(...))`);
- a path: a plan file `interfleet plan` wrote.

GPUs a placement leaves empty are dropped from the simulated fleet (`gpus_used` counts the rest).
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from emulation.gpus import GPUS, GpuSpec
from emulation.heartbeat import device_info
from emulation.true_degradation import TrueDegradation
from interfleet.devices import DeviceTerms, device_terms
from planner.baselines import FirstFitPacking, LeastLoadedPlacement, RandomPlacement, ReplicateAll
from planner.capacity import CapacityModel, Estimator, ModelNeeds, SoloProfile
from planner.milp import Infeasible
from planner.plan_file import read_plan
from planner.planner import GpuSlot, Plan, PlannedGpu, Planner
from predictor.scoring import CandidateScorer
from services.worker.batching.profile import seed_sizes
from simulation.experiment import Setup
from simulation.fleet_spec import GpuWorker

PLACEMENTS = (
    "static",
    "replicate-all",
    "random",
    "least-loaded",
    "first-fit",
    "planned",
    "planned (true degradation)",
    "planned (MIG)",
)
BASELINE_PLACEMENTS = PLACEMENTS[:5]
PROFILE_RUNS = 15
# The MIG layouts a planner may split a GPU into (slice type, slices), every slice hosting the
# same group: two 3g slices or seven 1g ones (NVIDIA's A100/H100 profiles; 3g+3g leaves a 1g idle).
MIG_LAYOUTS = {
    "A100": (("A100-3g", 2), ("A100-1g", 7)),
    "H100": (("H100-3g", 2), ("H100-1g", 7)),
}


def mig_layouts(setup: Setup) -> dict[str, tuple[tuple[str, int], ...]]:
    """The MIG layouts the fleet's GPU types offer (`MIG_LAYOUTS`)."""
    return {g.name: MIG_LAYOUTS[g.name] for g in setup.gpu_types() if g.name in MIG_LAYOUTS}


def mig_slices(setup: Setup) -> list[GpuSpec]:
    """The slice types of those layouts, each once."""
    names = sorted({s for layouts in mig_layouts(setup).values() for s, _ in layouts})
    return [GPUS[n] for n in names]


def solo_profile(setup: Setup, seed: int = 7, extra: Sequence[GpuSpec] = ()) -> SoloProfile:
    """Each model's median lone latency (ms) at each profiled batch size on each GPU type of the
    fleet, then on each of `extra` (MIG slice types)."""
    rng = random.Random(seed)
    device = setup.device
    profile = {}
    for spec in [*setup.gpu_types(), *extra]:
        for m, settings in setup.settings.items():
            profile[(m, spec.name)] = {
                b: statistics.median(
                    device.solo_s(setup.workloads[m], spec, b) * device.jitter(rng) * 1e3
                    for _ in range(PROFILE_RUNS)
                )
                for b in seed_sizes(settings.max_batch_size)
            }
    return profile


def tail_factor(setup: Setup, runs: int = 2000, seed: int = 8) -> float:
    """A batch's p99 duration over its median, from lone runs of one model on one GPU."""
    rng = random.Random(seed)
    spec = setup.gpu_types()[0]
    m = sorted(setup.workloads)[0]
    samples = sorted(
        setup.device.solo_s(setup.workloads[m], spec, 1) * setup.device.jitter(rng) for _ in range(runs)
    )
    return samples[int(0.99 * runs)] / statistics.median(samples)


def device_terms_of(setup: Setup, extra: Sequence[GpuSpec] = ()) -> dict[str, DeviceTerms]:
    return {g.name: device_terms(device_info(g)) for g in [*setup.gpu_types(), *extra]}


def inventory(setup: Setup) -> list[GpuSlot]:
    return [GpuSlot(w.worker_id, w.gpu) for w in setup.fleet]


def capacity_model(
    setup: Setup, estimator: str = "predictor", profile: SoloProfile | None = None, mig: bool = False
) -> CapacityModel:
    """The planner's capacity model for this setup; `estimator`: predictor, true, or none;
    `mig`: the MIG slice types profiled too."""
    needs = {m: ModelNeeds(m, s.slo_ms, s.max_batch_size) for m, s in setup.settings.items()}
    estimate: Estimator | None
    if estimator == "predictor":
        if setup.predictor is None:
            raise ValueError("the planner needs a trained predictor: call train_predictor first")
        estimate = CandidateScorer(setup.predictor, setup.features).degradation
    elif estimator == "true":
        estimate = TrueDegradation(setup.device, setup.workloads)
    else:
        estimate = None
    profile = profile or solo_profile(setup, extra=mig_slices(setup) if mig else ())
    return CapacityModel(needs, profile, estimate, setup.hop_ms, tail=tail_factor(setup))


def planner_of(
    setup: Setup, estimator: str = "predictor", mig: bool = False
) -> tuple[Planner, dict[str, DeviceTerms]]:
    """The planner for this setup, and the device terms it plans with (the slice types' too);
    with `mig`, A100s and H100s may also be split (`MIG_LAYOUTS`)."""
    planner = Planner(
        capacity_model(setup, estimator, mig=mig), partitions=mig_layouts(setup) if mig else None
    )
    return planner, device_terms_of(setup, mig_slices(setup) if mig else ())


def plan(
    setup: Setup,
    estimator: str = "predictor",
    objective: str = "max-scale",
    demand: Mapping[str, float] | None = None,
    mig: bool = False,
) -> Plan:
    planner, terms = planner_of(setup, estimator, mig)
    return planner.plan(inventory(setup), terms, demand or setup.mix, objective)


def placement(setup: Setup, name: str, seed: int = 0) -> tuple[list[GpuWorker], dict]:
    """The fleet with placement `name` (see the module docstring), and what the planner said."""
    slots, demand = inventory(setup), setup.mix
    info: dict = {}
    if name == "static":
        return list(setup.fleet), info
    if name == "replicate-all":
        gpus = ReplicateAll().place(slots, demand)
    elif name == "random":
        gpus = RandomPlacement(seed).place(slots, demand)
    elif name == "least-loaded":
        gpus = LeastLoadedPlacement().place(slots, demand)
    elif name == "first-fit":
        gpus = first_fit(setup, demand, fill=True)
    elif name.startswith("planned"):
        planned = plan(setup, "true" if "true" in name else "predictor", mig="MIG" in name)
        gpus = planned.gpus
        info = {
            "predicted_scale": planned.scale,
            "lp_bound_scale": planned.bound_scale,
            "solve_s": round(planned.solve_s, 3),
            "columns": planned.columns,
            "predicted_capacity": planned.capacity,
        }
    elif Path(name).is_file():
        gpus = read_plan(Path(name)).gpus
        known = {s.gpu_id: s.gpu_type for s in slots}
        wrong = [g.gpu_id for g in gpus if known.get(g.gpu_id) not in (None, g.gpu_type)]
        if wrong:
            raise ValueError(f"{name}: GPU types differ from the fleet's for {', '.join(wrong[:5])}")
    else:
        raise ValueError(f"unknown placement {name!r}: one of {', '.join(PLACEMENTS)}, or a plan file")
    unknown = sorted({m for g in gpus for m in g.models} - set(setup.settings))
    if unknown:
        raise ValueError(f"placement {name!r} hosts model(s) the setup does not serve: {', '.join(unknown)}")
    return fleet_of(gpus), info


def first_fit(setup: Setup, demand: Mapping[str, float], fill: bool = False) -> list[PlannedGpu]:
    """First-fit packing by solo capacity of `demand` (requests/s per model), or with `fill` of
    the largest multiple of it that fits."""
    packing = FirstFitPacking(capacity_model(setup, "none"), device_terms_of(setup), fill=fill)
    return packing.place(inventory(setup), demand)


def fleet_of(gpus: Sequence[PlannedGpu]) -> list[GpuWorker]:
    """The simulated workers of a placement: one per used GPU, or one per slice of a GPU the
    plan splits (MIG), `<gpu id>/<slice>` on the slice type."""
    workers = []
    for g in gpus:
        if not g.models:
            continue
        if g.partition:
            workers += [
                GpuWorker(f"{g.gpu_id}/{i}", g.partition, g.models, g.batch_caps) for i in range(g.slices)
            ]
        else:
            workers.append(GpuWorker(g.gpu_id, g.gpu_type, g.models, g.batch_caps))
    return workers


def gpus_used(fleet: Sequence[GpuWorker]) -> int:
    """Physical GPUs a simulated fleet occupies (a split GPU's slices count once)."""
    return len({w.worker_id.split("/")[0] for w in fleet})


def with_placement(setup: Setup, fleet: list[GpuWorker], demand: Mapping[str, float] | None = None) -> Setup:
    """The same setup (device, predictor, SLOs) on a re-placed fleet; with `demand`, its runs
    draw requests in that demand's mix instead of the setup's."""
    if demand is None:
        return dataclasses.replace(setup, fleet=fleet)
    total = sum(demand.values())
    return dataclasses.replace(setup, fleet=fleet, mix={m: d / total for m, d in demand.items() if d > 0})


TRIAL_LOAD = 0.9  # a trial runs a plan at this share of the scale it predicts
TRIAL_SEED = 500  # trials use their own traces, never an evaluation's
# The shapes a trial compares: (least, most models a used GPU hosts, GPU types a model's replicas
# may span; None: any). A router that balances requests per worker whatever their model loads a
# GPU hosting one model far harder than one hosting three (least-loaded does), and one that
# ignores device speed (power-of-two) overloads the slow hosts of a model spread over fast and
# slow types: which shape a routing serves best is what the trials find out.
SHAPES: tuple[tuple[int, int, int | None], ...] = (
    (1, 3, None),
    (1, 1, None),
    (2, 2, None),
    (3, 3, None),
    (1, 3, 1),
    (1, 1, 1),
)


def refined_plan(
    setup: Setup,
    routing: str,
    estimator: str = "predictor",
    rounds: int = 2,
    window_s: float = 0.2,
    mig: bool = False,
) -> tuple[Plan, list[dict]]:
    """The planner's plan, refined by trial runs under `routing` (AlpaServe-style).

    A trial runs a plan at `TRIAL_LOAD` of the scale it predicts, on a trace of its own. Each
    shape's plan (`SHAPES`) is tried; the one with the largest predicted scale among those that
    meet 99% in their trial is kept (if none does, the one that met the most). While the kept
    plan falls short, for up to `rounds` more trials, every (GPU type, group, model) whose
    hosts met fewer than 99% of their requests has its capacity scaled by the share they met
    (at least halved), and the program is solved again. Returns the plan that did best (met
    99%, then largest predicted scale), and every trial's figures."""
    planner, terms = planner_of(setup, estimator, mig)
    slots = inventory(setup)
    history: list[dict] = []

    def solve(shape: tuple[int, int, int | None]) -> Plan:
        least, most, types = shape
        return planner.plan(slots, terms, setup.mix, sizes=(least, most), types_per_model=types)

    def trial(
        plan: Plan, shape: tuple[int, int, int | None]
    ) -> tuple[tuple[bool, float, float], Plan, Setup]:
        fleet = with_placement(setup, fleet_of(plan.gpus))
        load = TRIAL_LOAD * plan.scale
        attained = fleet.run(routing, load, window_s, TRIAL_SEED + len(history))["slo_attainment"]
        history.append(
            {
                "shape": list(shape),
                "predicted_scale": plan.scale,
                "rate_rps": load,
                "slo_attainment": attained,
            }
        )
        met = attained >= 0.99
        return (met, plan.scale if met else attained, attained), plan, fleet

    tried = []
    for shape in SHAPES:
        try:
            tried.append((trial(solve(shape), shape), shape))
        except Infeasible:
            continue
    (best_score, best_plan, fleet), shape = max(tried, key=lambda t: t[0][0][:2])
    score, current = best_score, best_plan
    for _ in range(rounds):
        if score[0] or fleet.last_outcomes is None:
            break
        groups = {w.worker_id: (w.gpu, w.models) for w in fleet.fleet}  # a slice: its slice type
        tally: dict[tuple[str, tuple[str, ...], str], list[int]] = {}
        for (worker, model), (n, met) in fleet.last_outcomes.by_worker(window_s / 10).items():
            gpu, members = groups[worker]
            entry = tally.setdefault((gpu, members, model), [0, 0])
            entry[0] += n
            entry[1] += met
        for (gpu, members, model), (n, met) in tally.items():
            if n and met / n < 0.99:
                planner.correct(gpu, members, model, max(0.5, met / n))
        score, current, fleet = trial(solve(shape), shape)
        if score[:2] > best_score[:2]:
            best_score, best_plan = score, current
    return best_plan, history


def refined_fewest(
    setup: Setup,
    demand: Mapping[str, float],
    routing: str,
    rounds: int = 3,
    window_s: float = 0.2,
    mig: bool = False,
) -> tuple[Plan, list[dict]]:
    """The fewest-GPU plan for `demand`, checked by trial runs under `routing`: while a trial
    meets fewer than 99%, the demand planned for is raised by the shortfall's share (at least
    10%) and the program solved again. Returns the last plan and each trial's figures."""
    planner, terms = planner_of(setup, mig=mig)
    slots = inventory(setup)
    total = sum(demand.values())
    history: list[dict] = []
    margin = 1.0
    current = planner.plan(slots, terms, demand, objective="fewest-gpus")
    for round_ in range(rounds):
        fleet = with_placement(setup, fleet_of(current.gpus), demand)
        attained = fleet.run(routing, total, window_s, TRIAL_SEED + round_)["slo_attainment"]
        history.append({"margin": margin, "gpus_used": current.gpus_used, "slo_attainment": attained})
        if attained >= 0.99:
            break
        margin *= 1 + max(0.1, 0.99 - attained)
        try:
            current = planner.plan(slots, terms, {m: d * margin for m, d in demand.items()}, "fewest-gpus")
        except Infeasible:
            break
    return current, history
