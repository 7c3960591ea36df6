"""`make bench-batching`: the four batchers of one worker at 30%, 70% and 95% of its capacity,
plus a bursty trace, with the load generator.

One worker pinned to core 0 (one ONNX Runtime thread) hosts two models of different cost,
mobilenet (333 MFLOPs, SLO 40 ms) and the transformer (55 MFLOPs, SLO 30 ms), in equal shares;
the generator runs pinned to core 1 and talks to the worker directly, so only batching differs.
Capacity is the worker's throughput without batching, measured closed-loop (callers sending
back to back, so the server, not the generator, is saturated). Each load level runs every
batcher in a rotated order, so drift in the machine does not favour one of them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as tc_aio

from interfleet.ready_file import wait_for_ready_file
from interfleet.zoo.build import build_zoo
from loadgen.inputs import random_inputs

MODELS = "mobilenet=1,transformer=1"
BATCHERS = {
    "none": {"policy": "none"},
    "fixed": {"policy": "fixed", "max_delay_ms": 2},
    "aimd": {"policy": "aimd"},
    "adaptive": {"policy": "adaptive"},
}
WORKER_CORE, GENERATOR_CORE = 0, 1


def start_worker(scratch: Path, repository: str, batching: dict) -> tuple[subprocess.Popen, str]:
    ready = scratch / "worker.ready.json"
    ready.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleet",
            "worker",
            "--worker-id",
            "bench",
            "--models",
            "mobilenet,transformer",
            "--model-repository",
            repository,
            "--cpus",
            str(WORKER_CORE),
            "--threads",
            "1",
            "--metrics-port",
            "-1",
            "--batching",
            json.dumps({"*": batching}),
            "--ready-file",
            str(ready),
            "--log-level",
            "WARNING",
        ],
        stderr=subprocess.DEVNULL,
    )
    return process, wait_for_ready_file(ready, 120, lambda: process.poll() is None)["address"]


def loadgen(target: str, trace: str, seconds: float, out: Path) -> dict:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "loadgen",
            "--target",
            target,
            "--trace",
            trace,
            "--models",
            MODELS,
            "--duration",
            str(seconds),
            "--seed",
            "1",
            "--out",
            str(out),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
        preexec_fn=lambda: os.sched_setaffinity(0, {GENERATOR_CORE}),
    )
    return json.loads((out / "summary.json").read_text())


async def closed_loop_capacity(target: str, seconds: float, callers: int = 16) -> float:
    """Requests per second with `callers` sending back to back, the models in equal turns."""
    client = tc_aio.InferenceServerClient(target)
    rng = np.random.default_rng(0)
    inputs = {
        m: random_inputs(await client.get_model_metadata(m), rng)[0] for m in ("mobilenet", "transformer")
    }
    turns = itertools.cycle(inputs)
    done = 0
    stop_at = time.perf_counter() + seconds

    async def caller():
        nonlocal done
        while time.perf_counter() < stop_at:
            model = next(turns)
            await client.infer(model, inputs[model])
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.perf_counter() - started
    await client.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/bench-batching.json")
    args = parser.parse_args()
    build_zoo(Path(args.repository), ["mobilenet", "transformer"])
    repository = str(Path(args.repository).resolve())
    results: dict = {"models": MODELS, "seconds": args.seconds, "runs": []}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        worker, address = start_worker(scratch, repository, BATCHERS["none"])
        all_cores = os.sched_getaffinity(0)
        try:
            os.sched_setaffinity(0, {GENERATOR_CORE})  # the probe takes the generator's core
            capacity = asyncio.run(closed_loop_capacity(address, 6.0))
        finally:
            os.sched_setaffinity(0, all_cores)  # workers started later pick their own
            worker.terminate()
            worker.wait()
        results["capacity_rps"] = capacity
        print(f"capacity without batching (closed loop, 16 callers): {capacity:.0f} req/s", flush=True)
        loads = [
            ("30%", f"poisson:rate={0.30 * capacity:.1f}"),
            ("70%", f"poisson:rate={0.70 * capacity:.1f}"),
            ("95%", f"poisson:rate={0.95 * capacity:.1f}"),
            ("bursty 70%", f"gamma:rate={0.70 * capacity:.1f},cv=4"),
        ]
        names = list(BATCHERS)
        for rotation, (label, trace) in enumerate(loads):
            for name in names[rotation % len(names) :] + names[: rotation % len(names)]:
                worker, address = start_worker(scratch, repository, BATCHERS[name])
                try:
                    time.sleep(0.5)
                    summary = loadgen(
                        address, trace, args.seconds, scratch / f"{label}-{name}".replace(" ", "_")
                    )
                finally:
                    worker.terminate()
                    worker.wait()
                o = summary["overall"]
                run = {
                    "load": label,
                    "trace": trace,
                    "batcher": name,
                    "goodput_rps": o["goodput_rps"],
                    "slo_attainment": o["slo_attainment"],
                    "p50_ms": o["p50_ms"],
                    "p99_ms": o["p99_ms"],
                    "throughput_rps": o["throughput_rps"],
                    "errors": o["errors"],
                    "send_lag_p99_ms": summary["send_lag"]["p99_ms"],
                    "per_model": {
                        m: {k: s[k] for k in ("goodput_rps", "slo_attainment", "p99_ms")}
                        for m, s in summary["models"].items()
                    },
                }
                results["runs"].append(run)
                print(
                    f"{label:<11} {name:<9} goodput {o['goodput_rps']:7.1f}/s  SLO {100 * o['slo_attainment']:5.1f}%"
                    f"  p50 {o['p50_ms']:7.2f} ms  p99 {o['p99_ms']:8.2f} ms  errors {o['errors'] or '-'}",
                    flush=True,
                )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
