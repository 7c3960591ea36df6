"""`make eval-routing-gpu`: the routing policies on a real fleet of emulated GPUs, and the same fleet simulated.

The fleet is real: Redis, the predictor service, one router per policy and 8 worker processes,
each on an emulated GPU (`device: emulated:<type>`, T4, L4, A10, A100 and H100 in turn, 2-4 zoo
models each, `mixed_fleet`). The GPUs are emulated: each batch sleeps for the time the device
model gives, stretched `--time-scale` times on the wall clock (so two host cores can load GPUs
whose batches take fractions of a millisecond), and every figure is reported back in device
time (wall figures divided by the scale). SLOs are the simulator's (3x a model's solo latency
on a T4), stretched the same way in the scratch repository the workers and load generator read.

The predictor is trained on the emulated profile of the fleet's GPU types (co-located rows,
its own seed), published by the predictor service at start, retraining off; so every policy
meets the same model, in both the live fleet and the simulation. Workers batch knowing the hop
(`return_hop_ms`), as the simulator's do.

Loads: 50%, 80% and 95% of each policy's own max load at 99% attainment (bracketed and bisected
to 2% in the simulator), so no policy is judged overloaded at a load set by another. Each
policy runs open-loop Poisson for `--seconds` wall at each load, with a gRPC deadline of its SLO
per request; the simulator runs the same fleet, policy and rate for the same number of requests
beside it: the cross-check. Every request counts (see
`simulation.outcomes`). Writes results.json, report.md and each run's requests.csv.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from fleet.supervisor import FleetSupervisor
from interfleet.config_file import worker_ids
from interfleet.zoo.build import build_zoo
from simulation.experiment import EVALUATED, TRUE_DEGRADATION, VARIANTS, Setup, knee
from simulation.fleet_spec import mixed_fleet
from simulation.outcomes import loadgen_summary

sys.path.insert(0, str(Path(__file__).parent))
from bench_fleet import start_router, stop_routers
from routing_gpu_report import write_report

MODELS = ("mobilenet", "transformer", "resnet10", "resnet18", "mlp", "tiny_cnn")
SHARES = (0.5, 0.8, 0.95)
GPUS = 8


def scratch_repository(setup: Setup, repository: Path, scratch: Path, time_scale: float) -> Path:
    """The zoo's models with their GPU SLOs, stretched to wall time."""
    target = scratch / "repository"
    for model, settings in setup.settings.items():
        folder = target / model
        folder.mkdir(parents=True)
        (folder / "model.onnx").symlink_to((repository / model / "model.onnx").resolve())
        config = yaml.safe_load((repository / model / "config.yaml").read_text())
        config["slo_ms"] = round(settings.slo_ms * time_scale, 3)
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return target


def fleet_config(
    setup: Setup, repository: Path, scratch: Path, time_scale: float, predictor: Path, hop_ms: float
) -> Path:
    config = {
        "fleet": "eval-routing-gpu",
        "model_repository": str(repository),
        "router": {"port": 0, "http_port": -1, "metrics_port": -1, "policy": "least-loaded"},
        "predictor": {"initial_model": str(predictor), "retrain_interval_s": 1e9},
        "workers": [
            {
                "worker_id": w.worker_id,
                "models": list(w.models),
                "device": f"emulated:{w.gpu}",
                "emulation_time_scale": time_scale,
                "emulation_seed": 0,
                "return_hop_ms": hop_ms,
                "metrics_port": -1,
            }
            for w in setup.fleet
        ],
    }
    path = scratch / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def run_loadgen(target: str, mix: dict, rate: float, seconds: float, seed: int, out: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "fleet",
        "loadgen",
        "--target",
        target,
        "--trace",
        f"poisson:rate={rate:.2f}",
        "--models",
        ",".join(f"{m}={w}" for m, w in mix.items()),
        "--duration",
        str(seconds),
        "--seed",
        str(seed),
        "--deadline",
        "--out",
        str(out),
        "--no-progress",
    ]
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=seconds * 4 + 60
    )
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr.decode()[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/eval-routing-gpu")
    parser.add_argument("--seconds", type=float, default=20.0, help="wall seconds per live run")
    parser.add_argument(
        "--time-scale", type=float, default=1000.0, help="wall seconds per emulated device second"
    )
    parser.add_argument(
        "--hop-ms", type=float, default=1.5, help="the live router's hop, wall ms (for the simulator)"
    )
    parser.add_argument("--policies", default=";".join(EVALUATED), help="names separated by semicolons")
    args = parser.parse_args()
    policies = args.policies.split(";")
    repository, out, scale = Path(args.repository).resolve(), Path(args.out), args.time_scale
    build_zoo(repository, list(MODELS))
    out.mkdir(parents=True, exist_ok=True)
    # The simulator in device time: the live router's hop and the workers' 0.5 s heartbeat, unstretched.
    setup = Setup.make(
        repository, mixed_fleet(GPUS, MODELS, seed=0), hop_ms=args.hop_ms / scale, heartbeat_s=0.5 / scale
    )
    best_ms = {m: ms + setup.hop_ms for m, ms in setup.fastest_solo_ms().items()}
    report: dict = {
        "emulated": True,
        "time_scale": scale,
        "gpus": [[w.worker_id, w.gpu, list(w.models)] for w in setup.fleet],
        "slo_ms": {m: s.slo_ms for m, s in setup.settings.items()},
        "policies": policies,
        "seconds": args.seconds,
        "runs": [],
    }
    started = time.perf_counter()

    # The emulated profile (co-located rows, its own seed), fitted in device time for the
    # simulator and in wall time for the live fleet.
    rows = setup.profile_rows()
    setup.predictor = setup.fit_predictor(rows)
    # Each policy's own max load at 99% attainment, simulated: its loads are shares of it.
    window = 0.25
    max_load, start = {}, 20_000.0
    for p in policies:
        max_load[p] = knee(setup, p, start, duration_s=window, seed=1)[0]
        start = max_load[p] or start
    report["sim_max_load_rps"] = max_load
    print(f"simulated max load at 99% (device time): {max_load}", flush=True)

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        predictor = scratch / "predictor.json"
        setup.fit_predictor(rows, time_scale=scale).save(predictor)
        report["predictor_training_rows"] = len(rows)
        config = fleet_config(
            setup,
            scratch_repository(setup, repository, scratch, scale),
            scratch,
            scale,
            predictor,
            args.hop_ms,
        )
        shutil.copy(config, out / "fleet.yaml")
        supervisor = FleetSupervisor(
            str(config),
            worker_ids(yaml.safe_load(config.read_text())),
            0,
            None,
            scratch / "run",
            log_level="WARNING",
            with_predictor=True,
        )
        routers: dict[str, tuple[subprocess.Popen | None, str]] = {}
        try:
            supervisor.start()
            for variant in policies:
                policy, policy_args = VARIANTS[variant]
                truth = {"degradation": "emulator", "emulation_seed": 0}
                routers[variant] = start_router(
                    config,
                    supervisor.redis_url,
                    variant.replace(" ", "-"),
                    scratch,
                    ["--policy", policy, "--policy-args", json.dumps(policy_args)],
                    settings=truth if variant in TRUE_DEGRADATION else None,
                )
            time.sleep(3.0)
            for share in SHARES:
                for index, variant in enumerate(policies):
                    rate = max_load[variant] * share
                    folder = out / "runs" / f"{int(share * 100)}pct-{variant.replace(' ', '-').strip('()')}"
                    folder = folder.with_name(folder.name.replace("(", "").replace(")", ""))
                    run_loadgen(
                        routers[variant][1], setup.mix, rate / scale, args.seconds, seed=index, out=folder
                    )
                    live = loadgen_summary(
                        folder / "requests.csv", best_ms, scale, warmup_s=args.seconds / 10
                    )
                    requests = int(rate * args.seconds / scale)
                    sim = setup.run(variant, rate, requests / rate, seed=index)
                    report["runs"].append(
                        {
                            "share": share,
                            "rate_rps": rate,
                            "policy": variant,
                            "live": live,
                            "sim": sim,
                            "folder": str(folder),
                        }
                    )
                    print(
                        f"{share:.0%} {variant:<30} live: SLO {live['slo_attainment']:.2%} p50 {live['p50_ms']:.3f} "
                        f"p99 {live['p99_ms']:.3f} deg {live['mean_degradation']:.2f} | sim: SLO "
                        f"{sim['slo_attainment']:.2%} p50 {sim['p50_ms']:.3f} p99 {sim['p99_ms']:.3f} "
                        f"deg {sim['mean_degradation']:.2f}",
                        flush=True,
                    )
                    time.sleep(2.0)
        finally:
            stop_routers(routers)
            supervisor.stop(grace=2.0)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    write_report(report, out / "report.md")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
