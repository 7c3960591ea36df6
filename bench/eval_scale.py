"""`make eval-scale`: the routing policies on simulated fleets of 100, 1,000 and 10,000 emulated GPUs.

Everything here is an emulation: GPUs are the emulated device model (`emulation`),
run by the fleet simulator (`simulation`) through the router's own decision core,
the workers' own queues and batchers, and a predictor trained on the emulated workers'
telemetry. Fleets are `mixed_fleet` (T4, L4, A10, A100, H100 in turn, 2-4 models each); every
policy sees 16 random hosts of the model per request (`max_candidates`).

- 100 GPUs: each policy's max load at 99% SLO attainment (bisection), then every policy at 50%,
  80% and 95% of the best load-only baseline's max load, `--repeats` seeds each;
- 1,000 GPUs: every policy at 80% of that load per GPU;
- 10,000 GPUs: one simulated minute at 1M requests (least-loaded and interference-aware,
  balanced): the
  simulator's speed at scale (that rate is a small fraction of such a fleet's capacity).

Writes `results.json` (every run) and `report.md` to `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from simulation.experiment import LOAD_ONLY, POLICIES, Setup, load_levels, max_load_at
from simulation.fleet_spec import mixed_fleet

sys.path.insert(0, str(Path(__file__).parent))
from eval_scale_report import write_report

MODELS = ("mobilenet", "transformer", "resnet10", "resnet18", "mlp", "tiny_cnn")
SHARES = (0.5, 0.8, 0.95)


def setup_of(repository: Path, gpus: int, predictor=None) -> Setup:
    setup = Setup.make(repository, mixed_fleet(gpus, MODELS, seed=0), max_candidates=16)
    setup.predictor = predictor
    return setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/eval-scale")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--window", type=float, default=0.1, help="simulated seconds per run at 100 GPUs")
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args()
    repository, out = Path(args.repository), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    report: dict = {"emulated": True, "policies": list(POLICIES), "runs": []}

    started = time.perf_counter()
    small = setup_of(repository, 100)
    small.train_predictor(rate=100_000, duration_s=0.5)
    report["predictor_training_rows"] = small.training_rows
    report["slo_ms"] = {m: s.slo_ms for m, s in small.settings.items()}
    print(f"predictor trained on {small.training_rows} rows of emulated telemetry", flush=True)

    max_load = {}
    for policy in POLICIES:
        rate, runs = max_load_at(
            small, policy, low=50_000, high=600_000, duration_s=args.window, seed=1, steps=5
        )
        max_load[policy] = rate
        report["runs"] += [{**r, "gpus": 100, "phase": "max-load"} for r in runs]
        print(f"100 GPUs, {policy}: max load at 99% attainment {rate:,.0f} req/s", flush=True)
    report["max_load_rps_100"] = max_load
    reference = max(max_load[p] for p in LOAD_ONLY)
    report["reference_rps_100"] = reference

    levels = dict(zip(SHARES, load_levels(reference, SHARES)))
    for share, rate in levels.items():
        for policy in POLICIES:
            for seed in range(2, 2 + args.repeats):
                result = small.run(policy, rate, args.window, seed)
                report["runs"].append({**result, "gpus": 100, "phase": f"{share:.0%}"})
        print(f"100 GPUs at {share:.0%} of {reference:,.0f} req/s done", flush=True)

    if 1000 in sizes:
        large = setup_of(repository, 1000, small.predictor)
        rate = 0.8 * reference * 10
        for policy in POLICIES:
            result = large.run(policy, rate, args.window / 4, seed=2)
            report["runs"].append({**result, "gpus": 1000, "phase": "80%"})
            print(f"1,000 GPUs, {policy} at {rate:,.0f} req/s: {result['wall_s']:.0f} s", flush=True)

    if 10000 in sizes:
        huge = setup_of(repository, 10_000, small.predictor)
        huge.heartbeat_s = 1.0
        for policy in ("least-loaded", "interference-aware (balanced)"):
            result = huge.run(policy, 1_000_000 / 60, 60.0, seed=2, warmup_s=6.0)
            report["runs"].append({**result, "gpus": 10_000, "phase": "1M per minute"})
            print(
                f"10,000 GPUs, {policy}: 1M requests per simulated minute in {result['wall_s']:.0f} s wall",
                flush=True,
            )

    report["wall_s"] = round(time.perf_counter() - started, 1)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    write_report(report, out / "report.md")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
