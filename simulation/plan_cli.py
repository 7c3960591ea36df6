"""`interfleet plan`: a placement for an inventory of emulated GPUs, a set of models and a demand.

    interfleet plan --gpus T4=20,L4=20,A10=20,A100=20,H100=20 --workload-set realistic \\
        --demand demand.json --objective fewest-gpus --out plan.json

Inventory: `--gpus TYPE=COUNT,...` (emulated types, `emulation.gpus`). Models: the zoo in
`--repository` or the realistic catalog (`--workload-set`), each with its SLO. Demand, requests
per second per model: `--demand FILE` (JSON, `{"resnet50": 1200, ...}`), `--trace FILE` (a load
generator CSV trace: each model's mean rate over it), or `--mix` (weights; the plan then answers
with the largest scale of it the inventory serves). The planner profiles the GPU types on the
emulated device (`simulation.planning`: solo profiles, a predictor trained on the emulated
profile) and solves the placement program (`planner`); with `--refine ROUTING` it also tries
the plan in the simulator under that routing and corrects it (AlpaServe-style). Prints the plan's
summary as JSON and writes the plan file with `--out` (`interfleet simulate --placement FILE`
reads it). Every figure is of an emulation.

    interfleet plan --show 127.0.0.1:8003 [--tls-ca ca.pem --tls-cert C --tls-key K]

prints a live fleet's plan instead: what the planner service aims at, the demand it planned
for, and its moves with their outcomes (over TLS when the planner serves it: any certificate
the fleet's CA signed may read the plan).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from emulation.catalog import REALISTIC
from emulation.gpus import GPUS
from interfleet.errors import ConfigError
from interfleet.security.client import ClientAccess
from interfleet.security.tls import TlsFiles
from loadgen.schedule import parse_mix
from loadgen.traces import read_csv_trace
from planner.plan_file import to_json, write_plan
from planner.planner import OBJECTIVES
from simulation import planning
from simulation.experiment import DEFAULT_MIX, POLICIES, REALISTIC_MIX, Setup
from simulation.fleet_spec import GpuWorker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gpus", default="T4=20,L4=20,A10=20,A100=20,H100=20", help="TYPE=COUNT,...")
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument(
        "--workload-set", dest="workload_set", choices=("zoo", "realistic"), default="realistic"
    )
    demand = parser.add_mutually_exclusive_group()
    demand.add_argument("--demand", help="JSON file: requests per second per model")
    demand.add_argument("--trace", help="a load generator CSV trace: each model's mean rate over it")
    demand.add_argument("--mix", help="model weights, e.g. resnet50=3,bert_base=1 (default: the set's mix)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="max-scale")
    parser.add_argument(
        "--sharing",
        choices=("mps", "mig", "time-slicing"),
        default="mps",
        help="mig: A100s and H100s may also be split into MIG slices (2x 3g or 7x 1g), MPS within each; "
        "time-slicing: co-located models take turns on the GPU (the device model's rule, which the "
        "predictor then learns from its profile)",
    )
    parser.add_argument("--refine", choices=POLICIES, help="try and correct the plan under this routing")
    parser.add_argument("--device-seed", dest="device_seed", type=int, default=0)
    parser.add_argument("--out", help="write the plan file here")
    parser.add_argument(
        "--show",
        metavar="PLANNER",
        help="print a live fleet's plan and moves instead (the planner's host:port)",
    )
    parser.add_argument(
        "--tls-ca", dest="tls_ca", help="--show: the planner serves TLS; verify it against this CA"
    )
    parser.add_argument(
        "--tls-cert", dest="tls_cert", help="--show: client certificate (the planner requires mTLS)"
    )
    parser.add_argument("--tls-key", dest="tls_key", help="--show: the client certificate's key")


def inventory_of(text: str) -> list[tuple[str, int]]:
    out = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = item.partition("=")
        if name not in GPUS:
            raise ConfigError(f"--gpus: unknown GPU type {name!r} (known: {', '.join(sorted(GPUS))})")
        try:
            n = int(count)
        except ValueError:
            raise ConfigError(f"--gpus: the count of {name} must be an integer, got {count!r}") from None
        if n <= 0:
            raise ConfigError(f"--gpus: the count of {name} must be > 0")
        out.append((name, n))
    if not out:
        raise ConfigError("--gpus is empty: give TYPE=COUNT,...")
    return out


def demand_of(args: argparse.Namespace, models: set[str]) -> tuple[dict[str, float], bool]:
    """Requests/s per model and whether they are absolute (False: weights to scale)."""
    if args.demand:
        try:
            raw = json.loads(Path(args.demand).read_text())
            demand = {str(m): float(r) for m, r in raw.items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            raise ConfigError(f"--demand {args.demand}: not a JSON object of model: rate ({exc})") from None
        absolute = True
    elif args.trace:
        replayed = read_csv_trace(Path(args.trace))
        span = float(replayed.times[-1] - replayed.times[0]) if len(replayed.times) > 1 else 1.0
        demand = {m: n / max(span, 1e-9) for m, n in Counter(replayed.models).items()}
        absolute = True
    else:
        default = REALISTIC_MIX if args.workload_set == "realistic" else DEFAULT_MIX
        demand = parse_mix(args.mix) if args.mix else dict(default)
        absolute = False
    unknown = sorted(set(demand) - models)
    if unknown:
        raise ConfigError(f"demand names model(s) not in the {args.workload_set} set: {', '.join(unknown)}")
    if any(rate < 0 for rate in demand.values()):
        raise ConfigError("demand: every rate must be >= 0")
    return demand, absolute


def show(address: str, tls: TlsFiles) -> None:
    """A live planner's current plan (its groups), the demand it was made for, and its moves."""
    import grpc

    from interfleet.proto import fleet_pb2, fleet_pb2_grpc

    with ClientAccess(tls).channel(address) as channel:
        try:
            state = fleet_pb2_grpc.PlannerControlStub(channel).GetPlan(fleet_pb2.GetPlanRequest(), timeout=10)
        except grpc.RpcError as exc:
            raise ConfigError(f"--show {address}: {exc.code().name}: {exc.details()}") from None
    plan = json.loads(state.plan_json) if state.plan_json else {}
    groups = Counter(
        (g["gpu_type"] if g["gpu_type"] != g["gpu_id"] else g["gpu_id"], "+".join(g["models"]))
        for g in plan.get("gpus", [])
        if g["models"]
    )
    print(
        json.dumps(
            {
                "planned_at": state.planned_at or None,
                "demand_rps": dict(state.demand_rps),
                "objective": plan.get("objective"),
                "gpus_used": plan.get("gpus_used"),
                "groups": {f"{where}: {models}": n for (where, models), n in sorted(groups.items())},
                "moves": [
                    {
                        "at": m.at,
                        "action": m.action,
                        "model": m.model,
                        "worker": m.worker_id,
                        "outcome": m.outcome,
                    }
                    for m in state.moves
                ],
            },
            indent=2,
        )
    )


def run(args: argparse.Namespace) -> None:
    if args.show:
        show(args.show, TlsFiles(args.tls_cert, args.tls_key, args.tls_ca))
        return
    models = set(REALISTIC) if args.workload_set == "realistic" else set(DEFAULT_MIX)
    demand, absolute = demand_of(args, models)
    if not absolute and args.objective == "fewest-gpus":
        raise ConfigError("--objective fewest-gpus needs a demand in requests/s: --demand or --trace")
    fleet = [
        GpuWorker(f"{name.lower()}-{i}", name, tuple(sorted(demand)))
        for name, count in inventory_of(args.gpus)
        for i in range(count)
    ]
    total = sum(demand.values())
    setup = Setup.make(
        Path(args.repository),
        fleet,
        {m: d / total for m, d in demand.items() if d > 0},
        seed=args.device_seed,
        workload_set=args.workload_set,
        sharing="time-slicing" if args.sharing == "time-slicing" else "mps",
    )
    mig = args.sharing == "mig"
    setup.train_predictor(planning=True, extra_gpus=planning.mig_slices(setup) if mig else ())
    if args.refine and args.objective == "max-scale":
        plan, trials = planning.refined_plan(setup, args.refine, mig=mig)
    elif args.refine:
        plan, trials = planning.refined_fewest(setup, demand, args.refine, mig=mig)
    else:
        plan, trials = planning.plan(setup, objective=args.objective, demand=demand, mig=mig), []
    summary = {k: v for k, v in to_json(plan).items() if k != "gpus"}
    summary["groups"] = {
        f"{gpu}{f' as {slices}x {partition}' if partition else ''} x {'+'.join(models)}": n
        for (gpu, partition, slices, models), n in Counter(
            (g.gpu_type, g.partition, g.slices, g.models) for g in plan.gpus if g.models
        ).most_common()
    }
    if args.out:
        write_plan(plan, Path(args.out))
    print(json.dumps({"emulated": True, **summary, "trials": trials}, indent=2))
