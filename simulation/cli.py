"""`interfleet simulate`: one policy on a simulated fleet of emulated GPUs, for one trace.

    interfleet simulate --gpus 1000 --policy interference-aware --rate 200000 --duration 2

The fleet is `mixed_fleet` (T4, L4, A10, A100 and H100 in turn, 2 to 4 models each); the trace
is the load generator's (`--arrivals`, Poisson at `--rate` unless given); interference-aware
first trains its predictor on the telemetry of a least-loaded warm-up run. Prints the run's
figures as JSON (every request counted, see `simulation.outcomes`) with the
simulator's own speed. All figures are of an emulation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interfleet.repository import list_models
from loadgen.arrivals import ArrivalSpec
from loadgen.schedule import build_schedule
from simulation.experiment import DEFAULT_MIX, POLICIES, Setup
from simulation.fleet_spec import mixed_fleet


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--gpus", type=int, default=16, help="emulated GPUs in the fleet")
    parser.add_argument("--policy", default="interference-aware", choices=POLICIES)
    parser.add_argument("--rate", type=float, default=20000.0, help="requests per simulated second (Poisson)")
    parser.add_argument("--arrivals", help="a load generator arrival spec instead, e.g. gamma:rate=5000,cv=4")
    parser.add_argument("--duration", type=float, default=5.0, help="simulated seconds")
    parser.add_argument(
        "--max-candidates", type=int, default=16, help="hosts the policy sees per request (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="also write the JSON here")


def run(args: argparse.Namespace) -> None:
    models = [m for m in DEFAULT_MIX if m in set(list_models(Path(args.repository)))]
    setup = Setup.make(
        Path(args.repository),
        mixed_fleet(args.gpus, models, seed=args.seed),
        {m: DEFAULT_MIX[m] for m in models},
        seed=args.seed,
        max_candidates=args.max_candidates,
    )
    if args.policy.startswith("interference-aware"):
        setup.train_predictor()
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
    text = json.dumps({"emulated": True, "gpus": args.gpus, **result}, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
