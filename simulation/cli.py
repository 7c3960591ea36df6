"""`interfleet simulate`: one policy on a simulated fleet of emulated GPUs, for one trace.

    interfleet simulate --gpus 1000 --policy interference-aware --rate 200000 --duration 2
    interfleet simulate --gpus 100 --placement planned --policy least-loaded --rate 100000

The fleet is `mixed_fleet` (T4, L4, A10, A100 and H100 in turn, 2 to 4 models each); the trace
is the load generator's (`--arrivals`, Poisson at `--rate` unless given); interference-aware
first trains its predictor on the emulated profile. `--placement` re-places the same GPUs
(`simulation.planning`: the baselines by name; `planned`, the planner's plan refined by trial
runs under `--policy`; or a plan file, which brings its own GPUs). `--workload-set realistic`
serves the catalog's models instead of the zoo. Prints the run's figures as JSON (every request
counted, see `simulation.outcomes`), with the GPUs the placement uses, mean execution slowdown
and the simulator's own speed. All figures are of an emulation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interfleet.errors import ConfigError
from interfleet.repository import list_models
from loadgen.arrivals import ArrivalSpec
from loadgen.schedule import build_schedule
from simulation.experiment import DEFAULT_MIX, POLICIES, REALISTIC_MIX, Setup
from simulation.fleet_spec import mixed_fleet
from simulation.planning import PLACEMENTS, fleet_of, gpus_used, placement, refined_plan, with_placement


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--gpus", type=int, default=16, help="emulated GPUs in the fleet")
    parser.add_argument("--workload-set", dest="workload_set", choices=("zoo", "realistic"), default="zoo")
    parser.add_argument("--policy", default="interference-aware", choices=POLICIES)
    parser.add_argument(
        "--placement",
        default="static",
        help=f"{', '.join(PLACEMENTS)}, or a plan file from `interfleet plan` (static: the mixed fleet as dealt)",
    )
    parser.add_argument("--rate", type=float, default=20000.0, help="requests per simulated second (Poisson)")
    parser.add_argument("--arrivals", help="a load generator arrival spec instead, e.g. gamma:rate=5000,cv=4")
    parser.add_argument("--duration", type=float, default=5.0, help="simulated seconds")
    parser.add_argument(
        "--max-candidates", type=int, default=16, help="hosts the policy sees per request (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the JSON here")


def run(args: argparse.Namespace) -> None:
    if args.workload_set == "realistic":
        mix = dict(REALISTIC_MIX)
    else:
        mix = {m: w for m, w in DEFAULT_MIX.items() if m in set(list_models(Path(args.repository)))}
    setup = Setup.make(
        Path(args.repository),
        mixed_fleet(args.gpus, sorted(mix), seed=args.seed),
        mix,
        seed=args.seed,
        workload_set=args.workload_set,
        max_candidates=args.max_candidates,
    )
    if args.policy.startswith("interference-aware") or args.placement.startswith("planned"):
        setup.train_predictor(planning=args.placement.startswith("planned"))
    try:
        if args.placement.startswith("planned"):  # the planner's plan, refined under this routing
            estimator = "true" if "true" in args.placement else "predictor"
            plan, trials = refined_plan(setup, args.policy, estimator, window_s=min(args.duration, 0.2))
            placed = fleet_of(plan.gpus)
            info = {"predicted_scale": plan.scale, "lp_bound_scale": plan.bound_scale, "trials": trials}
        else:
            placed, info = placement(setup, args.placement, seed=args.seed)
    except ValueError as exc:
        raise ConfigError(f"--placement: {exc}") from None
    setup = with_placement(setup, placed)
    if args.arrivals:
        schedule = build_schedule(
            ArrivalSpec.parse(args.arrivals),
            setup.mix,
            lambda m: setup.settings[m].slo_ms,
            args.duration,
            args.seed,
        )
        result = setup.run_schedule(args.policy, schedule, args.seed)
    else:
        result = setup.run(args.policy, args.rate, args.duration, args.seed)
    text = json.dumps(
        {
            "emulated": True,
            "gpus": args.gpus,
            "placement": args.placement,
            "gpus_used": gpus_used(placed),
            **({"plan": info} if info else {}),
            **result,
        },
        indent=2,
    )
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
