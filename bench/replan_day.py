"""The drifting day both halves of `make eval-replan` run, and its simulated re-planning.

- `phase_demand`: phase p of `phases`: the total on a diurnal curve (mean x (1 + 0.6 sin),
  lowest at the first phase, the peak midway: the shape of the Azure Functions traces' daily
  cycle) while the mix moves from the workload set's default to its skewed one;
- `peak_and_static`: the largest peak, in steps of 0.8x from the largest scale of the default
  mix the planner finds for the fleet, whose static plan (every model's own peak x HEADROOM,
  the fewest GPUs, checked by trial runs, `refined_fewest`) fits the fleet;
- `simulated_day`: at each phase the planner service's rule (`ReplanGate`: 25% drift, a
  cool-down in phases) decides whether to re-plan; a re-plan is the fewest-GPU plan for the
  phase's demand x HEADROOM, checked the same way, the moves between plans counted
  (`ordered_moves`). Each phase then runs under the routing on its plan and on the static one:
  SLO attainment and GPUs used per phase. Moves are not simulated: each phase starts on its plan.

Everything here runs in the fleet simulator, on emulated GPUs.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from planner.milp import Infeasible
from planner.planner import Plan
from planner.replan import ReplanGate, ordered_moves
from simulation import planning
from simulation.experiment import Setup

sys.path.insert(0, str(Path(__file__).parent))
from eval_plan import mixes

HEADROOM = 1.25  # the planner service's: a plan carries this multiple of the demand it is for


def phase_demand(phase: int, phases: int, peak_rps: float, workload_set: str) -> dict[str, float]:
    share = phase / max(1, phases - 1)
    default, skewed = mixes(workload_set)["default"], mixes(workload_set)["skewed"]
    weights = {
        m: (1 - share) * default[m] / sum(default.values()) + share * skewed[m] / sum(skewed.values())
        for m in default
    }
    total = peak_rps * (1 + 0.6 * math.sin(2 * math.pi * phase / phases - math.pi / 2)) / 1.6
    return {m: total * w for m, w in weights.items()}


def peak_and_static(
    setup: Setup, phases: int, routing: str, window_s: float, workload_set: str
) -> tuple[float, list[dict[str, float]], Plan, list[dict]]:
    """The peak, each phase's demand, the static plan and its trials."""
    peak = planning.plan(setup).scale
    while True:
        peak *= 0.8
        demands = [phase_demand(p, phases, peak, workload_set) for p in range(phases)]
        peak_demand = {m: max(d[m] for d in demands) * HEADROOM for m in demands[0]}
        try:
            static, trials = planning.refined_fewest(setup, peak_demand, routing, window_s=window_s)
            return peak, demands, static, trials
        except Infeasible:
            continue


def simulated_day(
    setup: Setup,
    demands: list[dict[str, float]],
    static: Plan,
    routing: str,
    window_s: float,
    cooldown_phases: int,
) -> list[dict]:
    """One row per phase: demand, whether it re-planned (and the moves), GPUs used and SLO
    attainment, re-planned and static."""
    gate = ReplanGate(drift=0.25, cooldown_s=float(cooldown_phases))
    current: Plan | None = None
    rows = []
    for phase, demand in enumerate(demands):
        replanned, moves = False, 0
        if current is None or gate.due(demand, float(phase)):
            plan, _ = planning.refined_fewest(
                setup, {m: d * HEADROOM for m, d in demand.items()}, routing, window_s=window_s
            )
            if current is not None:
                before = {g.gpu_id: frozenset(g.models) for g in current.gpus}
                after = {g.gpu_id: dict(zip(g.models, g.batch_caps)) for g in plan.gpus}
                moves = len(ordered_moves(before, after, frozenset(demand))[0])
            current, replanned = plan, True
            gate.planned(demand, float(phase))
        total = sum(demand.values())
        row: dict = {"phase": phase, "demand_rps": round(total), "new_plan": replanned}
        for name, held in (("replanned", current), ("static", static)):
            fleet = planning.fleet_of(held.gpus)
            placed = planning.with_placement(setup, fleet, demand)
            result = placed.run(routing, total, window_s, seed=100 + phase)
            row[name] = {"gpus_used": planning.gpus_used(fleet), "slo_attainment": result["slo_attainment"]}
        if replanned and phase:
            row["moves"] = moves
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def gpu_seconds_ratio(rows: list[dict]) -> float:
    """GPU-seconds re-planned over static (phases are equally long)."""
    return sum(r["replanned"]["gpus_used"] for r in rows) / sum(r["static"]["gpus_used"] for r in rows)
