"""`make bench-loadgen`: the highest rate the load generator sustains with send-lag p99 < 1 ms.

A fleet of the default topology (three CPU workers, core sets overlapping) serves the tiny CNN;
the generator replays Poisson arrivals at rising rates, each run a separate `interfleet loadgen`
process as a user would start it. Generator and fleet share this machine's cores, so the figure
is a floor: on a separate client machine the generator has the cores to itself.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from bench_fleet import running_fleet

from interfleet.zoo.build import build_zoo

MODEL = "tiny_cnn"
LAG_LIMIT_MS = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200,300,400,600,800,1000,1200")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/bench-loadgen.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build_zoo(Path(args.repository), [MODEL])
    rows = []
    workers = [
        {"worker_id": w, "cpus": c, "threads": t, "models": [MODEL]}
        for w, c, t in (("core0", [0], 1), ("core1", [1], 1), ("both", [0, 1], 2))
    ]
    with running_fleet(args.repository, workers) as (supervisor, run_dir):
        for rate in [float(r) for r in args.rates.split(",")]:
            out = run_dir / f"rate{rate:g}"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "fleet",
                    "loadgen",
                    "--target",
                    supervisor.router_address,
                    "--trace",
                    f"poisson:rate={rate:g}",
                    "--models",
                    MODEL,
                    "--duration",
                    str(args.seconds),
                    "--seed",
                    "1",
                    "--out",
                    str(out),
                    "--no-progress",
                ],
                check=True,
                capture_output=True,
            )
            summary = json.loads((out / "summary.json").read_text())
            row = {
                "rate": rate,
                "send_lag_p50_ms": summary["send_lag"]["p50_ms"],
                "send_lag_p99_ms": summary["send_lag"]["p99_ms"],
                "throughput_rps": summary["overall"]["throughput_rps"],
                "p99_ms": summary["overall"]["p99_ms"],
                "errors": summary["overall"]["errors"],
            }
            rows.append(row)
            print(
                f"rate {rate:>6g}/s  send lag p50 {row['send_lag_p50_ms']:.3f} ms  p99 "
                f"{row['send_lag_p99_ms']:.3f} ms  throughput {row['throughput_rps']:.0f}/s  "
                f"latency p99 {row['p99_ms']:.2f} ms  errors {row['errors'] or '-'}",
                flush=True,
            )
    sustained = [r["rate"] for r in rows if r["send_lag_p99_ms"] < LAG_LIMIT_MS]
    best = max(sustained) if sustained else None
    report = {
        "model": MODEL,
        "seconds_per_rate": args.seconds,
        "lag_limit_ms": LAG_LIMIT_MS,
        "runs": rows,
        "highest_rate_with_lag_p99_under_limit": best,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"highest rate with send-lag p99 < {LAG_LIMIT_MS} ms: {best} req/s (written to {args.out})")


if __name__ == "__main__":
    main()
