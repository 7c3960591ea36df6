"""`make eval-replan`, its live half: the planner service re-placing models on a real fleet of
emulated GPUs as demand drifts, and the same fleet in the simulator beside it.

**The GPUs are emulated.** The fleet is real: Redis, the predictor service, the router
(`--routing`) and the planner service (re-planning on), and `--gpus` worker processes, each
on an emulated GPU (`device: emulated:<type>`, `mixed_fleet`, the zoo models), each batch
sleeping the device model's time stretched `--time-scale` times on the wall clock, as in
`make eval-routing-gpu`; every figure is reported in device time. The predictor is trained on
the emulated profile (its own seed) and published at start, retraining off.

The day (`replan_day`): `--phases` phases of `--phase-s` wall seconds, the total on a diurnal
curve while the mix shifts toward the transformer; the peak is the largest whose static plan
(the fewest GPUs for every model's peak x1.25, checked by simulated trials) fits the fleet.
The load generator replays it open loop from a CSV trace, each request with a gRPC deadline
of its SLO. Before the day, `--settle-s` at the first phase's demand: every worker starts with
every model (so the planner measures each model on each GPU type), and the planner
consolidates from there; those seconds are not counted.

Measured live: SLO attainment per phase (every request counts, `loadgen_summary`), GPUs
holding a model (each worker's `GetState`, sampled each second: a worker counts while it
hosts, loads or drains a model) and so GPU-seconds, the planner's moves (`GetPlan`) and every
request that failed for another reason than its deadline. Beside it, simulated: each phase on
the placement the live fleet held at the phase's middle (the cross-check), the static plan on
every phase, and the day re-planned in the simulator (`simulated_day`, plans checked by
trials, moves not simulated). Writes results.json, report.md and the load generator's
requests.csv.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import yaml

from fleet.supervisor import FleetSupervisor
from interfleet.config_file import worker_ids
from interfleet.proto import fleet_pb2, fleet_pb2_grpc
from interfleet.zoo.build import build_zoo
from simulation import planning
from simulation.experiment import DEFAULT_MIX, PLANNING_BATCHES, PLANNING_CO_BATCHES, VARIANTS, Setup
from simulation.fleet_spec import GpuWorker, mixed_fleet
from simulation.outcomes import loadgen_summary

sys.path.insert(0, str(Path(__file__).parent))
from replan_day import gpu_seconds_ratio, peak_and_static, simulated_day
from routing_gpu import scratch_repository

MODELS = sorted(DEFAULT_MIX)
WINDOW_S = 0.25  # simulated seconds per trial and per phase run


def write_trace(
    path: Path,
    demands: list[dict[str, float]],
    settle_s: float,
    phase_s: float,
    scale: float,
    slo_ms: dict[str, float],
    seed: int,
) -> int:
    """Poisson arrivals of each phase's demand (device req/s, so wall / `scale`), the first
    phase's demand for `settle_s` before them; `timestamp_s,model,slo_ms` rows (wall)."""
    rng = np.random.default_rng(seed)
    spans = [(0.0, settle_s, demands[0])] + [
        (settle_s + i * phase_s, phase_s, d) for i, d in enumerate(demands)
    ]
    rows = []
    for start, length, demand in spans:
        for model, rate in demand.items():
            count = rng.poisson(rate / scale * length)
            rows += [(start + t, model) for t in rng.uniform(0, length, count)]
    rows.sort()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp_s", "model", "slo_ms"])
        writer.writerows((f"{t:.6f}", m, slo_ms[m] * scale) for t, m in rows)
    return len(rows)


class PlacementSampler:
    """Each worker's models, loads and drains, read with GetState every `every_s` seconds."""

    def __init__(self, addresses: dict[str, str], every_s: float = 1.0):
        self.samples: list[tuple[float, dict[str, dict]]] = []
        self._stubs = {
            w: fleet_pb2_grpc.WorkerControlStub(grpc.insecure_channel(a)) for w, a in addresses.items()
        }
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            at, sample = time.time(), {}
            for worker, stub in self._stubs.items():
                try:
                    state = stub.GetState(fleet_pb2.GetStateRequest(), timeout=2)
                except grpc.RpcError:
                    continue
                sample[worker] = {
                    "models": {m.name: m.max_batch_size for m in state.models},
                    "moving": [t.name for t in state.transitions],
                }
            self.samples.append((at, sample))
            self._stop.wait(self._every_s)

    def between(self, start: float, end: float) -> list[dict[str, dict]]:
        return [s for at, s in self.samples if start <= at < end]


def gpus_holding(sample: dict[str, dict]) -> int:
    return sum(1 for w in sample.values() if w["models"] or w["moving"])


def fleet_config(
    setup: Setup, repository: Path, scratch: Path, args: argparse.Namespace, predictor: Path
) -> Path:
    policy, policy_args = VARIANTS[args.routing]
    config = {
        "fleet": "eval-replan",
        "model_repository": str(repository),
        "router": {
            "port": 0,
            "http_port": -1,
            "metrics_port": -1,
            "policy": policy,
            "policy_args": policy_args,
        },
        "predictor": {"initial_model": str(predictor), "retrain_interval_s": 1e9},
        "planner": {
            "port": 0,
            "metrics_port": -1,
            "replan": True,
            "replan_interval_s": 2.0,
            "refresh_interval_s": 0.5,
            "cooldown_s": args.cooldown_s,
            "drift": 0.25,
            "drain_s": 2.0,
            "max_moves_per_minute": args.max_moves,
            "max_group": 3,
        },
        "workers": [
            {
                "worker_id": w.worker_id,
                "models": MODELS,
                "device": f"emulated:{w.gpu}",
                "emulation_time_scale": args.time_scale,
                "emulation_seed": 0,
                "return_hop_ms": args.hop_ms,
                "metrics_port": -1,
            }
            for w in setup.fleet
        ],
    }
    path = scratch / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_loadgen(target: str, trace: Path, seconds: float, out: Path) -> None:
    command = [
        sys.executable, "-m", "fleet", "loadgen", "--target", target, "--trace", f"csv:path={trace}",
        "--models", ",".join(MODELS), "--duration", str(seconds), "--seed", "0", "--deadline",
        "--out", str(out), "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=seconds * 2 + 120
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr.decode()[-2000:]}")


def write_report(report: dict, path: Path) -> None:
    phases, gpus = report["phases"], len(report["gpus"])
    outcomes = collections.Counter(m["outcome"].split(":")[0] for m in report["moves"])
    not_deadline = {k: v for k, v in report["statuses"].items() if k not in ("OK", "DEADLINE_EXCEEDED")}
    failed = json.dumps(not_deadline) if not_deadline else "none"
    lines = [
        "# Re-planning a live fleet as demand drifts (emulated GPUs)",
        "",
        f"**Emulated GPUs, not real ones**: {gpus} worker processes on emulated GPUs "
        f"({', '.join(g for _, g in report['gpus'])}), each batch stretched {report['time_scale']:.0f}x on the "
        f"wall clock; figures in device time. The real router ({report['routing']}), Redis, predictor and "
        f"planner services (re-planning on: {json.dumps(report['planner'])}). A day of {len(phases)} phases "
        f"of {report['phase_s_wall']:.0f} s wall (after {report['settle_s_wall']:.0f} s settling from every "
        "model on every worker), the total on a diurnal curve while the mix shifts toward the transformer; "
        f"peak {report['peak_rps']:,.0f} req/s; {report['requests_sent']:,} requests, each with a deadline "
        "of its SLO.",
        "",
        "| phase | demand (req/s) | SLO live | GPUs live (mean) | moves | SLO sim, live placement "
        "| GPUs (that placement) | SLO sim, static plan | SLO sim, re-planned in sim | GPUs (sim re-planned) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p, sim in zip(phases, report["simulated_day"]):
        lines.append(
            f"| {p['phase']} | {p['demand_rps']:,} | {p['live']['slo_attainment']:.2%} | {p['live']['gpus_mean']} "
            f"| {p['moves']} | {p['sim_on_live_placement']['slo_attainment']:.2%} | "
            f"{p['sim_on_live_placement']['gpus']} | {p['static']['slo_attainment']:.2%} "
            f"| {sim['replanned']['slo_attainment']:.2%} | {sim['replanned']['gpus_used']} |"
        )
    worst = min(p["live"]["slo_attainment"] for p in phases)
    lines += [
        "",
        f"GPU-seconds, live re-planned over the static plan ({report['static_plan_gpus']} GPUs, sized for the "
        f"peak): **{report['gpu_seconds_live_over_static']:.2f}** (target <= 0.80); the day re-planned in the "
        f"simulator: {report['gpu_seconds_simulated_over_static']:.2f}. Worst phase's SLO attainment live: "
        f"**{worst:.2%}** (target >= 99% throughout). Requests answered or refused otherwise than by their "
        f"deadline: {failed} (target 0 lost or failed during moves); all statuses: "
        f"{json.dumps(report['statuses'])}. Moves: {json.dumps(dict(outcomes))}.",
        "",
        "The cross-check runs each phase in the simulator on the placement the live fleet held at the "
        "phase's middle; the static plan and the day re-planned in the simulator (plans checked by trial "
        "runs; moves not simulated) are beside it.",
    ]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/eval-replan/live")
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--phases", type=int, default=8)
    parser.add_argument("--phase-s", dest="phase_s", type=float, default=45.0, help="wall seconds per phase")
    parser.add_argument("--settle-s", dest="settle_s", type=float, default=90.0)
    parser.add_argument("--time-scale", dest="time_scale", type=float, default=1000.0)
    parser.add_argument("--hop-ms", dest="hop_ms", type=float, default=1.5, help="the router's hop, wall ms")
    parser.add_argument("--routing", default="speed-aware")
    parser.add_argument("--cooldown-s", dest="cooldown_s", type=float, default=20.0, help="wall seconds")
    parser.add_argument("--max-moves", dest="max_moves", type=int, default=30, help="per minute")
    args = parser.parse_args()
    repository, out, scale = Path(args.repository).resolve(), Path(args.out), args.time_scale
    build_zoo(repository, MODELS)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    setup = Setup.make(
        repository,
        mixed_fleet(args.gpus, MODELS, seed=0),
        DEFAULT_MIX,
        hop_ms=args.hop_ms / scale,
        heartbeat_s=0.5 / scale,
    )
    rows = setup.profile_rows(1000, PLANNING_BATCHES, PLANNING_CO_BATCHES)
    setup.predictor = setup.fit_predictor(rows)
    peak, demands, static, _ = peak_and_static(setup, args.phases, args.routing, WINDOW_S, "zoo")
    print(f"peak {peak:,.0f} req/s (device time); static plan: {static.gpus_used} GPUs", flush=True)
    best_ms = {m: ms + setup.hop_ms for m, ms in setup.fastest_solo_ms().items()}
    slo_ms = {m: s.slo_ms for m, s in setup.settings.items()}
    day_s = args.settle_s + args.phases * args.phase_s
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        predictor = scratch / "predictor.json"
        setup.fit_predictor(rows, time_scale=scale).save(predictor)
        config = fleet_config(
            setup, scratch_repository(setup, repository, scratch, scale), scratch, args, predictor
        )
        shutil.copy(config, out / "fleet.yaml")
        requests_sent = write_trace(
            scratch / "trace.csv", demands, args.settle_s, args.phase_s, scale, slo_ms, 0
        )
        supervisor = FleetSupervisor(
            str(config),
            worker_ids(yaml.safe_load(config.read_text())),
            0,
            None,
            scratch / "run",
            log_level="INFO",
            with_predictor=True,
            with_planner=True,
        )
        try:
            supervisor.start()
            addresses = {
                c.name.removeprefix("worker-"): json.loads(c.ready_file.read_text())["address"]
                for c in supervisor.workers
            }
            assert supervisor.planner is not None
            planner_address = json.loads(supervisor.planner.ready_file.read_text())["address"]
            sampler = PlacementSampler(addresses)
            sampler.start()
            began = time.time()
            run_loadgen(supervisor.router_address, scratch / "trace.csv", day_s, out)
            sampler.stop()
            with grpc.insecure_channel(planner_address) as channel:
                plan_state = fleet_pb2_grpc.PlannerControlStub(channel).GetPlan(
                    fleet_pb2.GetPlanRequest(), timeout=10
                )
        finally:
            supervisor.stop(grace=2.0)
            shutil.copytree(
                scratch / "run", out / "run", dirs_exist_ok=True, ignore=shutil.ignore_patterns("redis")
            )

    moves = [
        {
            "at_s": round(m.at - began, 1),
            "action": m.action,
            "model": m.model,
            "worker": m.worker_id,
            "outcome": m.outcome,
        }
        for m in plan_state.moves
    ]
    requests = out / "requests.csv"
    with requests.open(newline="") as handle:
        statuses = collections.Counter(r["status"] for r in csv.DictReader(handle))
    phases = []
    workers = {w.worker_id: w.gpu for w in setup.fleet}
    for phase, demand in enumerate(demands):
        start = args.settle_s + phase * args.phase_s
        live = loadgen_summary(requests, best_ms, scale, warmup_s=start, until_s=start + args.phase_s)
        samples = sampler.between(began + start, began + start + args.phase_s)
        held = samples[len(samples) // 2] if samples else {}
        fleet = [
            GpuWorker(w, workers[w], tuple(s["models"]), tuple(s["models"].values()))
            for w, s in sorted(held.items())
            if s["models"]
        ]
        total = sum(demand.values())
        simulated = planning.with_placement(setup, fleet, demand).run(
            args.routing, total, args.phase_s / scale, seed=200 + phase
        )
        static_run = planning.with_placement(setup, planning.fleet_of(static.gpus), demand).run(
            args.routing, total, args.phase_s / scale, seed=200 + phase
        )
        phases.append(
            {
                "phase": phase,
                "demand_rps": round(total),
                "live": {
                    "slo_attainment": live.get("slo_attainment"),
                    "p99_ms": live.get("p99_ms"),
                    "requests": live.get("requests"),
                    "statuses": live.get("statuses"),
                    "gpus_mean": round(float(np.mean([gpus_holding(s) for s in samples])), 2)
                    if samples
                    else None,
                },
                "sim_on_live_placement": {
                    "gpus": len(fleet),
                    "slo_attainment": simulated["slo_attainment"],
                    "p99_ms": simulated["p99_ms"],
                },
                "static": {"gpus": static.gpus_used, "slo_attainment": static_run["slo_attainment"]},
                "moves": sum(1 for m in moves if start <= m["at_s"] < start + args.phase_s),
            }
        )
        print(json.dumps(phases[-1]), flush=True)
    sim_day = simulated_day(setup, demands, static, args.routing, WINDOW_S, cooldown_phases=1)
    live_gpu_s = sum(p["live"]["gpus_mean"] or 0 for p in phases) / (static.gpus_used * len(phases))
    report = {
        "emulated": True,
        "time_scale": scale,
        "gpus": [[w.worker_id, w.gpu] for w in setup.fleet],
        "routing": args.routing,
        "peak_rps": peak,
        "phase_s_wall": args.phase_s,
        "settle_s_wall": args.settle_s,
        "planner": yaml.safe_load((out / "fleet.yaml").read_text())["planner"],
        "static_plan_gpus": static.gpus_used,
        "requests_sent": requests_sent,
        "statuses": dict(statuses),
        "phases": phases,
        "moves": moves,
        "gpu_seconds_live_over_static": round(live_gpu_s, 3),
        "simulated_day": sim_day,
        "gpu_seconds_simulated_over_static": round(gpu_seconds_ratio(sim_day), 3),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(report, indent=1))
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("statuses", "gpu_seconds_live_over_static", "gpu_seconds_simulated_over_static")
            }
        )
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
