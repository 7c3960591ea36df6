"""`make eval-replan`, its simulated part: re-planning as demand drifts, against a static plan
sized for the peak, on a simulated fleet of emulated GPUs of the realistic set.

Everything here is an emulation (emulated GPUs in the fleet simulator, `simulation`); moves are
not simulated (each phase runs on its plan from the start). The live fleet re-planned by the
planner service, with the zoo on 8 emulated GPUs and the simulator beside it, is
`eval_replan_live.py`.

A day of `--phases` phases on `--gpus` GPUs (`mixed_fleet`) of the realistic set: the total rate
follows a diurnal curve (mean x (1 + 0.6 sin), the shape of the Azure Functions traces' daily
cycle) while the mix shifts from the set's default to the skewed one (BERT taking half the
requests). The peak is the largest, in steps of 0.8x from the largest scale of the default mix
the planner finds for the fleet, whose static plan fits the fleet.

- static: the fewest-GPU plan for every model's peak rate (x1.25 headroom), checked by trial
  runs (`refined_fewest`), held all day;
- re-planned: at each phase the planner service's rule (`ReplanGate`: 25% drift, a cool-down of
  `--cooldown` phases) decides whether to re-plan; a re-plan is the fewest-GPU plan for the
  phase's demand x1.25, checked the same way. The moves between plans are counted
  (`ordered_moves`).

Each phase is then run under `--routing` on its plan: SLO attainment per phase, and GPU-seconds
(GPUs used x phase length) of each, the re-planned over the static.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from simulation.experiment import REALISTIC_MIX

sys.path.insert(0, str(Path(__file__).parent))
from eval_plan import setup_of
from replan_day import gpu_seconds_ratio, peak_and_static, simulated_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/eval-replan/simulated")
    parser.add_argument("--gpus", type=int, default=16)
    parser.add_argument("--phases", type=int, default=12)
    parser.add_argument("--cooldown", type=int, default=1, help="phases after a re-plan before the next")
    parser.add_argument("--routing", default="speed-aware")
    parser.add_argument("--window", type=float, default=0.1, help="simulated seconds per phase")
    parser.add_argument("--device-seed", dest="device_seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    setup = setup_of(
        Path(args.repository), args.gpus, args.device_seed, "realistic", dict(REALISTIC_MIX), args.window
    )
    setup.train_predictor(seed=1000 + args.device_seed, planning=True)
    peak, demands, static, static_trials = peak_and_static(
        setup, args.phases, args.routing, args.window, "realistic"
    )
    rows = simulated_day(setup, demands, static, args.routing, args.window, args.cooldown)
    gpu_s = gpu_seconds_ratio(rows)
    report = {
        "emulated": True,
        "gpus": args.gpus,
        "routing": args.routing,
        "peak_rps": peak,
        "static_plan": {"gpus_used": static.gpus_used, "trials": static_trials},
        "phases": rows,
        "gpu_seconds_replanned_over_static": round(gpu_s, 3),
        "worst_phase_attainment": {
            k: min(r[k]["slo_attainment"] for r in rows) for k in ("replanned", "static")
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(report, indent=1))
    lines = [
        "# Re-planning as demand drifts, simulated (emulated GPUs)",
        "",
        f"**An emulation, simulated**: {args.gpus} emulated GPUs in the fleet simulator, "
        f"{args.phases} phases of a diurnal day whose mix shifts toward BERT, routed {args.routing}. Moves are "
        "not simulated (each phase starts on its plan); the live fleet is in ../live/.",
        "",
        "| phase | demand (req/s) | re-planned | GPUs (re-planned / static) | attainment (re-planned / static) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['phase']} | {r['demand_rps']:,} | {'yes' if r['new_plan'] else ''} "
            f"| {r['replanned']['gpus_used']} / {r['static']['gpus_used']} "
            f"| {r['replanned']['slo_attainment']:.4f} / {r['static']['slo_attainment']:.4f} |"
        )
    lines += [
        "",
        f"GPU-seconds, re-planned over static: {gpu_s:.2f} (target <= 0.80). Worst phase's attainment: "
        f"re-planned {report['worst_phase_attainment']['replanned']:.4f}, static "
        f"{report['worst_phase_attainment']['static']:.4f} (target >= 0.99).",
    ]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
