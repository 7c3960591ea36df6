"""`make eval-scale`: routing policies on simulated fleets of 100 and 1,000 emulated GPUs.

`--workload-set zoo` serves the repository's generated models (sub-millisecond on these GPUs,
SLO 3x batch-1 on a T4); `realistic` the catalog's ResNet-50, BERT-base, ViT-B/16,
EfficientNet-B0, YOLOv5s and DLRM MLP (SLO 5x batch-1 on a T4, the literature's regime).

Everything here is an emulation: GPUs are the emulated device model (`emulation`), run by the
fleet simulator (`simulation`) through the router's own decision core, the workers' own queues
and (hop-aware) batchers, and a predictor trained on the emulated profile of the fleet's GPU
types (co-located rows from a profile seed no run uses; a quarter of the (target, co-runner)
combinations held out, on which it is scored against the device's true degradation). Fleets
are `mixed_fleet` (T4, L4, A10, A100, H100 in turn, 2-4 models each); every policy sees 16
random hosts of the model per request (`max_candidates`).

- 100 GPUs, for each of `--device-seeds` draws of the hidden per-model factors and
  `--trace-seeds` Poisson traces: each policy's own max load at 99% SLO attainment (steps of
  1.5x to bracket it, then bisection to 2%), its p99 and mean execution slowdown at that load,
  and the fleet's capacity bound (`simulation.capacity_bound`, a bound: no interference);
- 1,000 GPUs: each policy at 90% of its own median max load per GPU, one seed.

Writes `results.json` (every run: the attainment-load points) and `report.md` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from emulation.catalog import REALISTIC
from simulation.capacity_bound import capacity_bound
from simulation.experiment import EVALUATED, Setup, knee
from simulation.fleet_spec import mixed_fleet

sys.path.insert(0, str(Path(__file__).parent))
from eval_scale_report import write_report

MODELS = ("mobilenet", "transformer", "resnet10", "resnet18", "mlp", "tiny_cnn")
WINDOW_S = {"zoo": 0.02, "realistic": 0.2}  # simulated seconds per run: many batch times each


def setup_of(repository: Path, gpus: int, device_seed: int, workload_set: str, window_s: float) -> Setup:
    models = sorted(REALISTIC) if workload_set == "realistic" else MODELS
    # Heartbeats ten times a run, so the loads routers see are current: the live emulated fleet,
    # stretched 1,000x, heartbeats every 0.5 ms of device time.
    return Setup.make(
        repository,
        mixed_fleet(gpus, models, seed=0),
        seed=device_seed,
        workload_set=workload_set,
        max_candidates=16,
        heartbeat_s=window_s / 10,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/eval-scale")
    parser.add_argument("--device-seeds", type=int, default=3)
    parser.add_argument("--trace-seeds", type=int, default=2)
    parser.add_argument("--workload-set", dest="workload_set", choices=sorted(WINDOW_S), default="zoo")
    parser.add_argument("--window", type=float, help="simulated seconds per run at 100 GPUs")
    parser.add_argument("--policies", default=";".join(EVALUATED), help="names separated by semicolons")
    parser.add_argument("--no-large", action="store_true", help="skip the 1,000-GPU runs")
    args = parser.parse_args()
    repository, out = Path(args.repository), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    policies = args.policies.split(";")
    window = args.window or WINDOW_S[args.workload_set]
    report: dict = {
        "emulated": True,
        "workload_set": args.workload_set,
        "window_s": window,
        "policies": policies,
        "runs": [],
        "device_seeds": {},
    }
    started = time.perf_counter()
    max_load: dict[str, dict[str, float]] = {p: {} for p in policies}
    report["max_load_rps_100"] = max_load
    for device_seed in range(args.device_seeds):
        setup = setup_of(repository, 100, device_seed, args.workload_set, window)
        score = setup.train_predictor(seed=1000 + device_seed)
        bound = capacity_bound(
            setup.fleet, setup.mix, setup.device, setup.workloads, setup.settings, setup.hop_ms
        )
        report["slo_ms"] = {m: s.slo_ms for m, s in setup.settings.items()}
        report["device_seeds"][device_seed] = {
            "capacity_bound_rps": round(bound),
            "predictor_training_rows": setup.training_rows,
            "co_located_share": round(setup.co_located_share, 3),
            "predictor_score": score,
        }
        print(f"device seed {device_seed}: bound {bound:,.0f} req/s, predictor {score}", flush=True)
        for trace_seed in range(1, 1 + args.trace_seeds):
            start = 0.05 * bound  # the bound is loose: the first policy brackets down from here
            for policy in policies:
                rate, runs = knee(setup, policy, start, window, seed=trace_seed)
                start = start if rate == 0 else rate  # the next policy brackets from this knee
                key = f"{device_seed}/{trace_seed}"
                max_load[policy][key] = rate
                at_knee = next((r for r in reversed(runs) if r["rate_rps"] == rate), None)
                report["runs"] += [
                    {**r, "gpus": 100, "device_seed": device_seed, "trace_seed": trace_seed, "phase": "knee"}
                    for r in runs
                ]
                report.setdefault("at_knee", {}).setdefault(policy, {})[key] = at_knee and {
                    k: at_knee[k]
                    for k in ("p99_ms", "mean_execution_slowdown", "mean_degradation", "slo_attainment")
                }
                print(f"  {key} {policy}: {rate:,.0f} req/s ({len(runs)} runs)", flush=True)
            (out / "results.partial.json").write_text(json.dumps(report, indent=1))
    if not args.no_large:
        large = setup_of(repository, 1000, 0, args.workload_set, window / 4)
        large.train_predictor(seed=1000)
        for policy in policies:
            rate = 0.9 * 10 * statistics.median(max_load[policy].values())
            result = large.run(policy, rate, window / 4, seed=1)
            report["runs"].append(
                {**result, "gpus": 1000, "device_seed": 0, "trace_seed": 1, "phase": "90% of own"}
            )
            print(f"1,000 GPUs, {policy} at {rate:,.0f} req/s: {result['slo_attainment']:.4f}", flush=True)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "results.partial.json").unlink(missing_ok=True)
    write_report(report, out / "report.md")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
