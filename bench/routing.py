"""`make eval-routing`: four routing policies on the default heterogeneous fleet, side by side.

The fleet is `configs/local.yaml` (three workers whose core sets overlap, the predictor service
publishing the shipped degradation model; retraining is off so that every policy meets the
same model). One router per policy runs against the same workers, so policies differ in their
decisions alone. Before the runs: each model's solo latency on each worker is measured end to
end through the round-robin router, one request at a time on the idle fleet (the base of the
degradation metric), and the fleet's capacity for the model mix closed-loop through the
least-loaded router.

Variants: the four policies, and interference-aware with `on_unmeetable: least-bad`.
Scenarios: the mix at 50% and at 80% of capacity, and at 50% with an external CPU stressor
pinned to core 1 (under worker core1 and half of worker both) from about halfway through (its
actual start in each run's schedule is measured and reported). Every
request carries a gRPC deadline equal to its model's SLO. Each scenario runs every policy
`--repeats` times, in an order rotated per repeat, so the machine's drift falls on all policies
and its noise shows in the spread. The report is written by `routing_report`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as tc_aio
import yaml

from fleet.supervisor import FleetSupervisor
from interfleet.config_file import load_fleet_file, worker_ids
from interfleet.zoo.build import build_zoo
from loadgen.inputs import random_inputs
from predictor.stressor import start_stressor

sys.path.insert(0, str(Path(__file__).parent))
from bench_fleet import start_router, stop_routers
from routing_report import write_report

# The four policies, and interference-aware leaving unmeetable requests to the workers' own
# admission instead of refusing them at the router.
VARIANTS = (
    "round-robin",
    "least-loaded",
    "power-of-two",
    "interference-aware",
    "interference-aware (least-bad)=interference-aware:{on_unmeetable: least-bad}",
)
MIX = {"mobilenet": 4, "transformer": 4, "tiny_cnn": 2, "resnet10": 1, "resnet18": 1}
SCENARIOS = (("50%", 0.5, False), ("80%", 0.8, False), ("50% + stressor", 0.5, True))
STRESSED_CORE = 1
LOADGEN_STARTUP_S = 1.5  # from launching the generator to its first request, on this machine


def fleet_config(scratch: Path, repository: Path) -> Path:
    config = load_fleet_file("configs/local.yaml")
    config.update(fleet="eval-routing", model_repository=str(repository))
    config["router"] = {
        **config.get("router", {}),
        "port": 0,
        "http_port": -1,
        "metrics_port": -1,
        "policy": "least-loaded",
    }
    config["predictor"] = {**config.get("predictor", {}), "retrain_interval_s": 1e9}
    config["workers"] = [{**w, "metrics_port": -1} for w in config["workers"]]
    path = scratch / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def parse_variant(text: str) -> tuple[str, str, dict, dict]:
    """NAME=POLICY[:YAML-ARGS][@YAML-ROUTER-SETTINGS], e.g.
    ia-least-bad=interference-aware:{on_unmeetable: least-bad}
    ia-no-detection=interference-aware@{interference: {mark_ratio: 1000, clear_ratio: 999}}"""
    name, _, spec = text.partition("=")
    spec, _, settings = (spec or name).partition("@")
    policy, _, args = spec.partition(":")
    return name, policy, yaml.safe_load(args) if args else {}, yaml.safe_load(settings) if settings else {}


async def _inputs(client) -> dict:
    rng = np.random.default_rng(0)
    return {m: random_inputs(await client.get_model_metadata(m), rng)[0] for m in MIX}


async def solo_latencies(target: str, per_model: int) -> dict[str, dict[str, float]]:
    """Median end-to-end latency per (worker, model), one request at a time on the idle fleet."""
    client = tc_aio.InferenceServerClient(target)
    inputs = await _inputs(client)
    samples: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for model, feeds in inputs.items():
        for _ in range(per_model):
            started = time.perf_counter()
            response = await client.infer(model, feeds)
            elapsed_ms = (time.perf_counter() - started) * 1e3
            samples[response.get_response().parameters["worker_id"].string_param, model].append(elapsed_ms)
    await client.close()
    solo: dict[str, dict[str, float]] = collections.defaultdict(dict)
    for (worker, model), values in samples.items():
        solo[model][worker] = statistics.median(values[1:] or values)  # the first may pay a cold start
    return dict(solo)


async def capacity(target: str, seconds: float, callers: int = 16) -> float:
    """Requests per second of the mix with `callers` sending back to back."""
    client = tc_aio.InferenceServerClient(target)
    inputs = await _inputs(client)
    rng = np.random.default_rng(1)
    names = list(MIX)
    weights = np.array([MIX[m] for m in names], dtype=float) / sum(MIX.values())
    done = 0
    stop_at = time.perf_counter() + seconds

    async def caller():
        nonlocal done
        while time.perf_counter() < stop_at:
            model = names[rng.choice(len(names), p=weights)]
            await client.infer(model, inputs[model])
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    rate = done / (time.perf_counter() - started)
    await client.close()
    return rate


def run_loadgen(
    target: str, rate: float, seconds: float, seed: int, out: Path, stress_after_s: float | None
) -> float | None:
    """One load generator run; returns when the stressor started, in the run's schedule seconds."""
    mix = ",".join(f"{m}={w}" for m, w in MIX.items())
    command = [
        sys.executable,
        "-m",
        "fleet",
        "loadgen",
        "--target",
        target,
        "--trace",
        f"poisson:rate={rate:.1f}",
        "--models",
        mix,
        "--duration",
        str(seconds),
        "--seed",
        str(seed),
        "--deadline",
        "--out",
        str(out),
        "--no-progress",
    ]
    loadgen = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stressor, stressed_at = None, None
    try:
        if stress_after_s is not None:
            # The generator takes a moment to start sending; the stressor's actual start in the
            # run's schedule time is measured afterwards from the generator's summary.
            time.sleep(LOADGEN_STARTUP_S + stress_after_s)
            stressed_at = time.time()
            stressor = start_stressor("cpu", {STRESSED_CORE}, seconds)
        _, stderr = loadgen.communicate(timeout=seconds * 4 + 60)
        if loadgen.returncode != 0:
            raise RuntimeError(f"loadgen failed: {stderr.decode()[-2000:]}")
    finally:
        if stressor is not None:
            stressor.terminate()
            stressor.join()
    if stressed_at is None:
        return None
    return stressed_at - json.loads((out / "summary.json").read_text())["started_at"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/routing")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME=POLICY[:YAML-ARGS][@YAML-ROUTER-SETTINGS] to compare instead of the default "
        "variants (repeatable)",
    )
    parser.add_argument(
        "--scenario", action="append", default=[], help="run only these scenarios (repeatable)"
    )
    args = parser.parse_args()
    variants = [parse_variant(v) for v in args.variant or VARIANTS]
    names = tuple(name for name, *_ in variants)
    scenarios = [s for s in SCENARIOS if not args.scenario or s[0] in args.scenario]
    repository = Path(args.repository).resolve()
    build_zoo(
        repository, sorted({m for w in load_fleet_file("configs/local.yaml")["workers"] for m in w["models"]})
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {
        "mix": MIX,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "policies": list(names),
        "variants": {name: {"policy": policy, "args": a, "router": r} for name, policy, a, r in variants},
        "stressor": {"core": STRESSED_CORE, "kind": "cpu", "from_s": args.seconds / 2},
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        config = fleet_config(scratch, repository)
        supervisor = FleetSupervisor(
            str(config),
            worker_ids(load_fleet_file(str(config))),
            0,
            None,
            scratch / "run",
            log_level="WARNING",
            with_predictor=True,
        )
        routers: dict[str, tuple[subprocess.Popen | None, str]] = {}
        try:
            supervisor.start()
            routers["least-loaded"] = (None, supervisor.router_address)  # the fleet file's policy
            for name, policy, policy_args, settings in variants:
                if name not in routers:
                    routers[name] = start_router(
                        config,
                        supervisor.redis_url,
                        name,
                        scratch,
                        ["--policy", policy, "--policy-args", json.dumps(policy_args)],
                        settings,
                    )
            if "round-robin" not in routers:
                routers["round-robin"] = start_router(
                    config, supervisor.redis_url, "round-robin", scratch, ["--policy", "round-robin"]
                )
            time.sleep(1.0)
            results["solo_ms"] = asyncio.run(solo_latencies(routers["round-robin"][1], per_model=31))
            results["capacity_rps"] = asyncio.run(capacity(routers["least-loaded"][1], 8.0))
            print(
                f"capacity of the mix (closed loop, 16 callers, least-loaded): {results['capacity_rps']:.0f} req/s",
                flush=True,
            )
            for label, load, stressed in scenarios:
                rate = load * results["capacity_rps"]
                for repeat in range(args.repeats):
                    order = names[repeat % len(names) :] + names[: repeat % len(names)]
                    for policy in order:
                        folder = (
                            out
                            / "runs"
                            / "".join(
                                ch
                                for ch in f"{label}-{policy}-{repeat}".replace("%", "pct")
                                if ch.isalnum() or ch in "-_"
                            )
                        )
                        stress_from_s = run_loadgen(
                            routers[policy][1],
                            rate,
                            args.seconds,
                            seed=repeat,
                            out=folder,
                            stress_after_s=args.seconds / 2 if stressed else None,
                        )
                        summary = json.loads((folder / "summary.json").read_text())["overall"]
                        results["runs"].append(
                            {
                                "scenario": label,
                                "policy": policy,
                                "repeat": repeat,
                                "rate_rps": rate,
                                "folder": str(folder),
                                "stress_from_s": stress_from_s,
                            }
                        )
                        print(
                            f"{label:<15} {policy:<19} #{repeat}  goodput {summary['goodput_rps']:6.1f}/s  "
                            f"SLO {100 * summary['slo_attainment']:5.1f}%  p50 {summary['p50_ms']:6.2f} ms  "
                            f"p99 {summary['p99_ms']:7.2f} ms",
                            flush=True,
                        )
                        time.sleep(2.0)  # let queues drain and heartbeats settle between runs
        finally:
            stop_routers(routers)
            supervisor.stop(grace=2.0)
    (out / "report.json").write_text(json.dumps(results, indent=2))  # kept if the analysis fails
    write_report(results, out)
    print(f"report written to {out}/report.md (and report.json, the PNGs)")


if __name__ == "__main__":
    main()
