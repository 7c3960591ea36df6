"""`make bench-cli`: what starting the `interfleet` command costs, lazy beside eager, in one run.

`interfleet health` runs every few seconds in every container (compose and Kubernetes health
checks), so its start-up is paid all day. Each case runs in a fresh interpreter, in rotated
rounds, and reports the median wall time to the end of `main` and the modules loaded:

- lazy: the command as it is (only the chosen subcommand's module is imported);
- eager: the same command after importing every subcommand's module first, which is what the
  command did until it was made lazy (its parser imported them all to add their arguments).

`health` is pointed at a closed port, so it answers at once (exit 1) without a server.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

PROJECT = ("interfleet", "emulation", "predictor", "loadgen", "services", "router", "simulation", "fleet")
HEAVY = ("lightgbm", "scipy", "onnx", "onnxruntime", "grpc", "redis", "numpy")
CASES = {"--help": ["--help"], "health": ["health", "--address", "127.0.0.1:1", "--timeout", "1"]}

PROBE = """
import importlib, json, sys, time
started = time.perf_counter()
from fleet.cli import SUBCOMMANDS, main
if {eager}:
    for module, _ in SUBCOMMANDS.values():
        importlib.import_module(module)
try:
    main({argv!r})
except SystemExit:
    pass
elapsed = time.perf_counter() - started
print(json.dumps({{"s": elapsed, "modules": len(sys.modules),
                  "project": sum(m.split(".")[0] in {project!r} for m in sys.modules),
                  "heavy": [m for m in {heavy!r} if m in sys.modules]}}), file=sys.stderr)
"""


def probe(argv: list[str], eager: bool) -> dict:
    code = PROBE.format(eager=eager, argv=argv, project=PROJECT, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    return json.loads(done.stderr.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default="results/bench-cli.json")
    args = parser.parse_args()
    samples: dict[str, list[dict]] = {f"{case} {mode}": [] for case in CASES for mode in ("lazy", "eager")}
    for round_index in range(args.rounds):
        order = list(samples)
        order = order[round_index % len(order) :] + order[: round_index % len(order)]
        for key in order:
            case, mode = key.rsplit(" ", 1)
            samples[key].append(probe(CASES[case], eager=mode == "eager"))
    report: dict = {"rounds": args.rounds, "python": sys.version.split()[0], "cases": {}}
    for key, runs in samples.items():
        report["cases"][key] = {
            "median_ms": round(statistics.median(r["s"] for r in runs) * 1e3, 1),
            "modules": runs[-1]["modules"],
            "project_modules": runs[-1]["project"],
            "heavy": runs[-1]["heavy"],
        }
    for case in CASES:
        lazy, eager = report["cases"][f"{case} lazy"], report["cases"][f"{case} eager"]
        report["cases"][f"{case} lazy"]["eager_over_lazy"] = round(eager["median_ms"] / lazy["median_ms"], 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    for key, case in report["cases"].items():
        print(
            f"{key:<14} {case['median_ms']:>8.1f} ms  {case['modules']:>5} modules "
            f"({case['project_modules']} of interfleet's)  heavy: {', '.join(case['heavy']) or 'none'}"
        )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
