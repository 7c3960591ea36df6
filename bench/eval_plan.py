"""`make eval-plan`: placements x routings on simulated fleets of emulated GPUs.

Everything here is an emulation: emulated GPUs (`emulation`) in the fleet simulator, which runs
the router's decision core, the workers' queues and batchers, and a predictor trained on the
emulated profile (held-out combinations scored against the device's true degradation).

For each device seed (the hidden per-model factors) and demand mix (the set's default, and a
skewed one where one model takes half the requests), on 100 GPUs of 5 types (`mixed_fleet`):

- every placement (`simulation.planning.PLACEMENTS`: the fleet file's static one, replicate-all,
  random, least-loaded, first-fit packing, the planner) under every routing (`--routings`): its
  own max load at 99% SLO attainment (1.5x steps to bracket, bisection to 2%), with p99, mean
  execution slowdown and GPUs used at that load. The planner's placement is refined by trial
  runs under the routing it is evaluated with, on traces of its own (`refined_plan`);
- at one load every placement x routing serves (90% of the smallest max load found): mean
  execution slowdown, the seed paper's figure;
- two upper bounds: the planner's LP relaxation (its own capacity model: a bound on what its
  program can promise) and the interference-free bound (`capacity_bound` on every model on every
  GPU: no placement and no routing can exceed it on this emulator);
- fewest GPUs for a fixed demand (half the best baseline's max load): the planner (fewest-gpus
  objective) and first-fit packing, each checked by a run at that demand.

Then, once: the planner's solve time for 1,000 and 10,000 GPUs, and the planned placement and the
best baseline at 1,000 GPUs, each at 90% of ten times its own 100-GPU max load.

Writes `results.json` (every run) and `report.md` to `--out`; `results.partial.json` as it goes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from emulation.catalog import REALISTIC
from simulation import planning
from simulation.capacity_bound import capacity_bound
from simulation.experiment import DEFAULT_MIX, REALISTIC_MIX, Setup, knee
from simulation.fleet_spec import GpuWorker, mixed_fleet

sys.path.insert(0, str(Path(__file__).parent))
from eval_plan_report import write_report

WINDOW_S = {"zoo": 0.02, "realistic": 0.1}
ROUTINGS = ("least-loaded", "power-of-two", "interference-aware (balanced)", "speed-aware")
SKEWED = {"zoo": "transformer", "realistic": "bert_base"}  # the model that takes half the requests


def mixes(workload_set: str) -> dict[str, dict[str, float]]:
    base = dict(REALISTIC_MIX if workload_set == "realistic" else DEFAULT_MIX)
    heavy = SKEWED[workload_set]
    rest = sum(v for m, v in base.items() if m != heavy)
    return {"default": base, "skewed": {**base, heavy: rest}}


def setup_of(
    repository: Path,
    gpus: int,
    device_seed: int,
    workload_set: str,
    mix: dict,
    window_s: float,
    sharing: str = "mps",
) -> Setup:
    models = sorted(REALISTIC) if workload_set == "realistic" else sorted(DEFAULT_MIX)
    return Setup.make(
        repository,
        mixed_fleet(gpus, models, seed=0),
        mix,
        seed=device_seed,
        workload_set=workload_set,
        sharing=sharing,
        max_candidates=16,
        heartbeat_s=window_s / 10,
    )


def interference_free_bound(setup: Setup) -> float:
    everywhere = [GpuWorker(w.worker_id, w.gpu, tuple(sorted(setup.mix))) for w in setup.fleet]
    return capacity_bound(everywhere, setup.mix, setup.device, setup.workloads, setup.settings, setup.hop_ms)


def at(runs: list[dict], rate: float) -> dict:
    run = next((r for r in reversed(runs) if r["rate_rps"] == rate), None) or {}
    keys = ("p99_ms", "mean_execution_slowdown", "slo_attainment", "refused_share")
    return {k: run.get(k) for k in keys}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/eval-plan")
    parser.add_argument("--workload-set", dest="workload_set", choices=sorted(WINDOW_S), default="realistic")
    parser.add_argument("--device-seeds", default="0,1,2", help="device-model seeds, comma-separated")
    parser.add_argument("--mixes", default="default,skewed")
    parser.add_argument("--routings", default=";".join(ROUTINGS), help="names separated by semicolons")
    parser.add_argument("--placements", default=";".join(planning.PLACEMENTS[:6]))
    parser.add_argument("--window", type=float)
    parser.add_argument("--no-large", action="store_true", help="skip the 1,000- and 10,000-GPU part")
    parser.add_argument(
        "--sharing",
        choices=("mps", "time-slicing"),
        default="mps",
        help="how co-located models share each emulated GPU (the 100-GPU part)",
    )
    parser.add_argument(
        "--merge", nargs="+", metavar="RESULTS", help="merge results.json files of split runs into --out"
    )
    args = parser.parse_args()
    if args.merge:
        merge([Path(p) for p in args.merge], Path(args.out))
        return
    repository, out = Path(args.repository), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    window = args.window or WINDOW_S[args.workload_set]
    routings, placements = args.routings.split(";"), args.placements.split(";")
    report: dict = {
        "emulated": True,
        "workload_set": args.workload_set,
        "sharing": args.sharing,
        "window_s": window,
        "routings": routings,
        "placements": placements,
        "cells": [],
        "runs": [],
    }
    started = time.perf_counter()
    first_fleets: dict[tuple[str, str], list[GpuWorker]] = {}  # seed 0, default mix: tiled at 1,000
    for device_seed in [int(x) for x in args.device_seeds.split(",")]:
        for mix_name in args.mixes.split(","):
            mix = mixes(args.workload_set)[mix_name]
            setup = setup_of(repository, 100, device_seed, args.workload_set, mix, window, args.sharing)
            # With a MIG placement to evaluate, the predictor learns the slice types too.
            slices = planning.mig_slices(setup) if any("MIG" in p for p in placements) else []
            score = setup.train_predictor(seed=1000 + device_seed, planning=True, extra_gpus=slices)
            free = interference_free_bound(setup)
            lp = planning.plan(setup).bound_scale
            key = f"{device_seed}/{mix_name}"
            report.setdefault("seeds", {})[key] = {
                "interference_free_bound_rps": round(free),
                "lp_bound_rps": round(lp or 0),
                "predictor_mape": {g: s["mape"] for g, s in score.items()},
                "mix": mix,
                "slo_ms": {m: s.slo_ms for m, s in setup.settings.items()},
            }
            print(f"{key}: interference-free bound {free:,.0f}, LP bound {lp:,.0f} req/s", flush=True)
            start_of: dict[str, float] = {}
            fleets: dict[tuple[str, str], list[GpuWorker]] = {}  # (placement, routing) -> fleet
            for routing in routings:
                for name in placements:
                    info: dict = {}
                    if name.startswith("planned"):
                        estimator = "true" if "true" in name else "predictor"
                        plan, trials = planning.refined_plan(
                            setup, routing, estimator, window_s=window, mig="MIG" in name
                        )
                        fleet = planning.fleet_of(plan.gpus)
                        info = {
                            "predicted_scale": plan.scale,
                            "solve_s": round(plan.solve_s, 3),
                            "trials": trials,
                        }
                    else:
                        fleet, _ = planning.placement(setup, name, seed=device_seed)
                    fleets[(name, routing)] = fleet
                    placed = planning.with_placement(setup, fleet)
                    start = start_of.get(routing) or 0.3 * free
                    rate, runs = knee(placed, routing, start, window, seed=1 + device_seed)
                    if rate:
                        start_of[routing] = rate
                    cell = {
                        "key": key,
                        "device_seed": device_seed,
                        "mix": mix_name,
                        "placement": name,
                        "routing": routing,
                        "max_load_rps": rate,
                        "gpus_used": planning.gpus_used(fleet),
                        **at(runs, rate),
                        **info,
                    }
                    report["cells"].append(cell)
                    report["runs"] += [{**r, "key": key, "placement": name} for r in runs]
                    print(f"  {key} {name} x {routing}: {rate:,.0f} req/s ({len(runs)} runs)", flush=True)
                    (out / "results.partial.json").write_text(json.dumps(report, indent=1))
            if not first_fleets:
                first_fleets = dict(fleets)
            common_load(report, setup, key, fleets, window, device_seed)
            fewest(report, setup, key, window, device_seed)
            (out / "results.partial.json").write_text(json.dumps(report, indent=1))
    if not args.no_large:
        large(report, repository, args.workload_set, window, routings, first_fleets)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "results.partial.json").unlink(missing_ok=True)
    write_report(report, out / "report.md")
    print(f"written to {out}")


def merge(paths: list[Path], out: Path) -> None:
    """One report from runs split over device seeds (the same set, routings and placements):
    each seed/mix is taken from the last file where every placement x routing of it was run
    (a run stopped early, its `results.partial.json`, contributes the seeds it finished)."""
    parts = [json.loads(p.read_text()) for p in paths]
    merged = dict(parts[0])
    owner: dict[str, int] = {}
    for i, part in enumerate(parts):
        wanted = len(part["placements"]) * len(part["routings"])
        for key in part.get("seeds", {}):
            if sum(c["key"] == key for c in part["cells"]) == wanted:
                owner[key] = i
    for name in ("cells", "runs", "common_load", "fewest_gpus"):
        merged[name] = [
            row for i, part in enumerate(parts) for row in part.get(name, []) if owner.get(row["key"]) == i
        ]
    for name in ("solve", "large"):
        merged[name] = [row for part in parts for row in part.get(name, [])]
    merged["seeds"] = {k: parts[i]["seeds"][k] for k, i in sorted(owner.items())}
    merged["wall_s"] = max(part.get("wall_s", 0.0) for part in parts)
    merged["merged_from"] = [str(p) for p in paths]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(merged, indent=1))
    write_report(merged, out / "report.md")
    print(f"merged into {out}: {', '.join(sorted(owner))}")


def common_load(
    report: dict,
    setup: Setup,
    key: str,
    fleets: dict[tuple[str, str], list[GpuWorker]],
    window: float,
    seed: int,
) -> None:
    """Every placement x routing at 90% of the smallest max load of this seed and mix."""
    cells = [c for c in report["cells"] if c["key"] == key and c["max_load_rps"] > 0]
    if not cells:
        return
    load = 0.9 * min(c["max_load_rps"] for c in cells)
    for (name, routing), fleet in fleets.items():
        result = planning.with_placement(setup, fleet).run(routing, load, window, seed=1 + seed)
        report.setdefault("common_load", []).append(
            {
                "key": key,
                "placement": name,
                "routing": routing,
                "rate_rps": load,
                "slo_attainment": result["slo_attainment"],
                "mean_execution_slowdown": result["mean_execution_slowdown"],
                "mean_degradation": result["mean_degradation"],
            }
        )


def fewest(report: dict, setup: Setup, key: str, window: float, seed: int) -> None:
    """GPUs for a fixed demand (half the best baseline's max load): the planner and first-fit."""
    baselines = [c for c in report["cells"] if c["key"] == key and not c["placement"].startswith("planned")]
    if not baselines:
        return
    demand_rps = 0.5 * max(c["max_load_rps"] for c in baselines)
    demand = {m: share * demand_rps for m, share in setup.mix.items()}
    rows = []
    plan = planning.plan(setup, objective="fewest-gpus", demand=demand)
    fleets = {"planned": planning.fleet_of(plan.gpus)}
    packing = planning.first_fit(setup, demand)
    fleets["first-fit"] = planning.fleet_of(packing)
    for name, fleet in fleets.items():
        result = planning.with_placement(setup, fleet, demand).run(
            "speed-aware", demand_rps, window, seed=1 + seed
        )
        rows.append(
            {
                "key": key,
                "placement": name,
                "demand_rps": demand_rps,
                "gpus_used": planning.gpus_used(fleet),
                "slo_attainment": result["slo_attainment"],
            }
        )
    report.setdefault("fewest_gpus", []).extend(rows)


def large(
    report: dict,
    repository: Path,
    workload_set: str,
    window: float,
    routings: list[str],
    small_fleets: dict[tuple[str, str], list[GpuWorker]],
) -> None:
    mix = mixes(workload_set)["default"]
    for gpus in (1000, 10000):
        setup = setup_of(repository, gpus, 0, workload_set, mix, window)
        setup.train_predictor(seed=1000, planning=True)
        started = time.perf_counter()
        plan = planning.plan(setup)
        report.setdefault("solve", []).append(
            {
                "gpus": gpus,
                "solve_s": round(time.perf_counter() - started, 2),
                "columns": plan.columns,
                "predicted_scale": plan.scale,
                "lp_bound_scale": plan.bound_scale,
            }
        )
        print(f"{gpus:,} GPUs: planned in {time.perf_counter() - started:.1f} s", flush=True)
    setup = setup_of(repository, 1000, 0, workload_set, mix, window / 4)
    setup.train_predictor(seed=1000, planning=True)
    mine = [c for c in report["cells"] if c["key"] == "0/default"]
    for placement in ("planned", best_baseline(mine)):
        for routing in routings:
            own = [c["max_load_rps"] for c in mine if c["placement"] == placement and c["routing"] == routing]
            if not own or not own[0]:
                continue
            if placement == "planned":  # the 100-GPU plan tiled ten times over the 1,000 (same types)
                fleet = [
                    GpuWorker(f"{w.worker_id}-{copy}", w.gpu, w.models, w.batch_caps)
                    for copy in range(10)
                    for w in small_fleets[("planned", routing)]
                ]
            else:
                fleet, _ = planning.placement(setup, placement)
            rate = 0.9 * 10 * own[0]
            result = planning.with_placement(setup, fleet).run(routing, rate, window / 4, seed=1)
            report.setdefault("large", []).append(
                {
                    "gpus": 1000,
                    "placement": placement,
                    "routing": routing,
                    "rate_rps": rate,
                    "slo_attainment": result["slo_attainment"],
                    "p99_ms": result["p99_ms"],
                }
            )
            print(
                f"1,000 GPUs {placement} x {routing} at {rate:,.0f}: {result['slo_attainment']:.4f}",
                flush=True,
            )


def best_baseline(cells: list[dict]) -> str:
    baselines = [c for c in cells if not c["placement"].startswith("planned")]
    return max(baselines, key=lambda c: c["max_load_rps"])["placement"] if baselines else "static"


if __name__ == "__main__":
    main()
