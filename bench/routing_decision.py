"""`make bench-decision`: the router's CPU cost of one routing decision, per policy, side by side.

The default fleet's view (`configs/local.yaml`: three workers with overlapping cores and the
solo latencies of the zoo models) is built in memory, in the router's decision core and, for
interference-aware, the shipped degradation model behind the same estimator the router uses.
Each decision draws which (worker, model) pairs have requests in flight from a seeded generator
(each with probability `--busy`), as a live router sees it, then asks the core for candidates
and the policy for a decision: exactly the request path's routing work, without the network.
Policies are measured in rotated rounds; reported is CPU time per decision. The heap is settled
as a service process settles it once started (`interfleet.runtime.settle_heap`), so the
collector runs as often as it does in the router.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

from interfleet.config_file import load_fleet_file
from interfleet.proto import fleet_pb2
from interfleet.runtime import settle_heap
from interfleet.zoo.build import build_zoo
from predictor.model import DegradationModel
from predictor.published_estimator import PublishedModelEstimator
from router.core import RouterCore
from router.fleet_view import FleetView
from router.policies import POLICIES, RouteRequest, make_policy

SOLO_MS = {
    "resnet18": 17.0,
    "resnet10": 9.0,
    "mobilenet": 4.0,
    "transformer": 0.9,
    "mlp": 0.12,
    "tiny_cnn": 0.06,
}


class PublishedModel:
    """What the router's ModelWatcher holds once the shipped model is published."""

    status, version = "ok", 1

    def __init__(self, path: Path):
        self.model = DegradationModel.load(path)


def fleet_view(config: dict, rng: random.Random) -> FleetView:
    states = []
    for worker in config["workers"]:
        state = fleet_pb2.WorkerState(worker_id=worker["worker_id"], ready=True, address="127.0.0.1:1")
        state.device.name = "cpu"
        state.device.cpu.cpu_set.extend(worker["cpus"])
        state.device.cpu.threads = worker["threads"]
        state.device.cpu.l2_cache_bytes = 1 << 20
        for model in worker["models"]:
            scale = 2.0 / (len(worker["cpus"]) + 1)  # a two-core worker runs a model faster
            state.models.add(name=model, solo_latency_ms=SOLO_MS[model] * scale)
            state.load.add(model=model, busy_fraction=round(rng.random(), 2))
        states.append(state)
    return FleetView.of(states)


async def measure(args: argparse.Namespace) -> dict:
    config = load_fleet_file(args.config)
    rng = random.Random(1)
    view = fleet_view(config, rng)
    estimator = PublishedModelEstimator(PublishedModel(Path(args.model)), Path(args.repository))
    await estimator.prepare(view.by_model)
    cores = {
        name: RouterCore(make_policy(name, {"seed": 1} if name != "round-robin" else {}, estimator=estimator))
        for name in POLICIES
    }
    for core in cores.values():
        core.update(view)
    settle_heap()
    workers, models = list(view.workers), sorted(view.by_model)

    def draw_in_flight(core: RouterCore, draw: random.Random) -> None:
        for worker_id in workers:
            counts = core.in_flight[worker_id]
            for model in models:
                counts[model] = int(draw.random() < args.busy)
            core.outstanding[worker_id] = sum(counts.values())

    spent = dict.fromkeys(cores, 0.0)
    names = list(cores)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            core = cores[name]
            draw = random.Random(round_)  # the same in-flight states for every policy
            started = time.process_time()
            for i in range(args.decisions):
                draw_in_flight(core, draw)
                model = models[i % len(models)]
                core.policy.decide(RouteRequest(model, 100.0), core.candidates(model, 0.0))
            spent[name] += time.process_time() - started
    # The in-flight bookkeeping above is the same for every policy; measure it alone and subtract it.
    draw, core = random.Random(0), RouterCore(make_policy("round-robin", {}))
    core.update(view)
    started = time.process_time()
    for _ in range(args.decisions * args.rounds):
        draw_in_flight(core, draw)
    bookkeeping = (time.process_time() - started) / (args.decisions * args.rounds)
    per_decision = {name: s / (args.decisions * args.rounds) - bookkeeping for name, s in spent.items()}
    return {
        "decisions": args.decisions * args.rounds,
        "busy": args.busy,
        "us_per_decision": {name: round(s * 1e6, 1) for name, s in per_decision.items()},
        "cache_hit_rate": estimator.hit_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/local.yaml")
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--model", default="predictor/models/reference.json")
    parser.add_argument("--decisions", type=int, default=2000, help="per policy per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--busy", type=float, default=0.3, help="chance that a (worker, model) has requests in flight"
    )
    parser.add_argument("--out", default="results/bench-decision.json")
    args = parser.parse_args()
    build_zoo(Path(args.repository), sorted(SOLO_MS))
    report = asyncio.run(measure(args))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    costs = ", ".join(f"{name} {us:.1f} us" for name, us in report["us_per_decision"].items())
    print(
        f"CPU per routing decision (candidates + policy), default fleet: {costs}; "
        f"degradation cache hit rate {report['cache_hit_rate']:.0%}. Written to {args.out}"
    )


if __name__ == "__main__":
    main()
