"""`interfleet profile`: measure each model solo and co-located, into a dataset with provenance.

For every device (a CPU core set with a thread count, as a worker would be configured) a child
process pinned to those cores loads every model, then for each target model and batch size:
measures it solo; measures it while sampled co-runner sets of degree 1 to 3 run beside it in
their own threads (as co-located models do in a worker), each at a load level (duty cycle); and
measures it beside an external stressor (cpu, cache, memory bandwidth) on the same cores, so
interference from outside the fleet is in the data. Each row keeps every run's latency (its
solo latency is the median of the lone runs, `interfleet.solo`; the noise floor and
any tail model read the samples).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import multiprocessing
import os
import platform
import random
import statistics
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from interfleet.cpu_caches import cache_bytes
from interfleet.repository import list_models, load_spec
from interfleet.solo import solo_latency
from predictor.stressor import KINDS, start_stressor

# (name, cores, ONNX Runtime threads): the default fleet's three worker shapes on a 2-core box.
DEVICES = (("core0-1t", (0,), 1), ("core1-1t", (1,), 1), ("both-2t", (0, 1), 2))
BATCHES = (1, 4)
LOADS = (0.3, 0.6, 1.0)
MAX_RUN_MS = 100.0  # skip (model, batch) pairs slower than this: they would dominate profiling time
MAX_RUNS = 200  # per measurement; the time budget usually ends it first
ROW_FIELDS = (
    "device",
    "cores",
    "threads",
    "l2_bytes",
    "l3_bytes",
    "peak_tflops",
    "memory_gbps",
    "target",
    "batch",
    "solo_ms",
    "mean_ms",
    "p95_ms",
    "degree",
    "co_runners",
    "stress",
    "stress_intensity",
    "samples_ms",
)


@dataclass(frozen=True)
class Measurement:
    samples_ms: list[float]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.samples_ms)

    @property
    def p95(self) -> float:
        return float(np.percentile(self.samples_ms, 95))


def _feeds(session, batch: int) -> dict[str, np.ndarray]:
    from interfleet.kserve.datatypes import FROM_ONNXRUNTIME, NUMPY_DTYPE

    feeds = {}
    for arg in session.get_inputs():
        dtype = NUMPY_DTYPE[FROM_ONNXRUNTIME[arg.type]]
        shape = [batch, *(d if isinstance(d, int) else 1 for d in arg.shape[1:])]
        feeds[arg.name] = (
            np.ones(shape, dtype)
            if dtype.kind == "i"
            else np.random.default_rng(0).random(shape).astype(dtype)
        )
    return feeds


def measure(session, feeds, budget_s: float = 0.4, min_runs: int = 5, max_runs: int = 40) -> Measurement:
    session.run(None, feeds)
    samples, spent = [], 0.0
    while len(samples) < min_runs or (spent < budget_s and len(samples) < max_runs):
        started = time.perf_counter()
        session.run(None, feeds)
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1e3)
        spent += elapsed
    return Measurement(samples)


class CoRunner(threading.Thread):
    """Runs a model back to back at a duty cycle, as a co-located model under load does."""

    def __init__(self, session, feeds, load: float):
        super().__init__(daemon=True)
        self._session, self._feeds, self._load = session, feeds, load
        self._stop_event = threading.Event()
        self.busy_s = 0.0
        self.started_at = 0.0

    def run(self) -> None:
        self.started_at = time.perf_counter()
        while not self._stop_event.is_set():
            started = time.perf_counter()
            self._session.run(None, self._feeds)
            elapsed = time.perf_counter() - started
            self.busy_s += elapsed
            if self._load < 1.0:
                self._stop_event.wait(elapsed * (1.0 - self._load) / self._load)

    def stop(self) -> float:
        """Stop and return the busy fraction it achieved."""
        self._stop_event.set()
        self.join()
        return self.busy_s / max(time.perf_counter() - self.started_at, 1e-9)


def profile_device(
    device: str,
    cores: tuple[int, ...],
    threads: int,
    repository: str,
    samples: int,
    seed: int,
    out_path: str,
    budget_s: float,
) -> None:
    """Runs in a child process pinned to `cores`; writes its rows as JSON lines to `out_path`."""
    os.sched_setaffinity(0, set(cores))
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    names = list_models(Path(repository))
    # Each model gets two sessions: one to measure as the target, one to run as a co-runner.
    targets = {
        m: ort.InferenceSession(
            str(load_spec(Path(repository), m).path), options, providers=["CPUExecutionProvider"]
        )
        for m in names
    }
    runners = {
        m: ort.InferenceSession(
            str(load_spec(Path(repository), m).path), options, providers=["CPUExecutionProvider"]
        )
        for m in names
    }
    l2, l3 = cache_bytes()
    rng = random.Random(f"{seed}-{device}")
    base = {"device": device, "cores": len(cores), "threads": threads, "l2_bytes": l2, "l3_bytes": l3}
    with open(out_path, "w") as out:
        for target in names:
            for batch in BATCHES:
                feeds = _feeds(targets[target], batch)
                solo = measure(targets[target], feeds, budget_s, max_runs=MAX_RUNS)
                if solo.mean > MAX_RUN_MS:
                    continue
                row = {**base, "target": target, "batch": batch, "solo_ms": solo_latency(solo.samples_ms)}

                def emit(
                    m: Measurement, degree: int, co_runners: list, stress: str = "", intensity: float = 0.0
                ):
                    out.write(
                        json.dumps(
                            {
                                **row,  # noqa: B023 - emit is called only within this iteration
                                "mean_ms": m.mean,
                                "p95_ms": m.p95,
                                "degree": degree,
                                "co_runners": co_runners,
                                "stress": stress,
                                "stress_intensity": intensity,
                                "samples_ms": [round(s, 4) for s in m.samples_ms],
                            }
                        )
                        + "\n"
                    )

                emit(solo, 0, [])
                for _ in range(samples):
                    degree = rng.randint(1, 3)
                    others = rng.sample([n for n in names if n != target], degree)
                    plan = [(name, rng.choice(BATCHES), rng.choice(LOADS)) for name in others]
                    running = [CoRunner(runners[n], _feeds(runners[n], b), load) for n, b, load in plan]
                    for co in running:
                        co.start()
                    time.sleep(0.02)
                    measured = measure(targets[target], feeds, budget_s, max_runs=MAX_RUNS)
                    achieved = [co.stop() for co in running]
                    emit(measured, degree, [[n, b, round(a, 3)] for (n, b, _), a in zip(plan, achieved)])
                for kind in KINDS:
                    intensity = rng.choice((0.5, 1.0))
                    stressor = start_stressor(kind, set(cores), duration_s=30.0, intensity=intensity)
                    time.sleep(0.1)
                    measured = measure(targets[target], feeds, budget_s, max_runs=MAX_RUNS)
                    stressor.terminate()
                    stressor.join()
                    emit(measured, 0, [], kind, intensity)
                out.flush()


def provenance() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    versions = {p: metadata.version(p) for p in ("interfleet", "onnxruntime", "numpy", "lightgbm")}
    return {
        "machine": {"cpu": cpu, "logical_cores": os.cpu_count(), "platform": platform.platform()},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "packages": versions,
        "devices": [list(d) for d in DEVICES],
        "batches": list(BATCHES),
        "loads": list(LOADS),
    }


def write_dataset(rows: list[dict], path: Path, info: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **row,
                    "co_runners": json.dumps(row["co_runners"]),
                    "samples_ms": " ".join(str(s) for s in row["samples_ms"]),
                }
            )
    path.with_suffix(".provenance.json").write_text(json.dumps({**info, "rows": len(rows)}, indent=2))


def read_dataset(path: Path) -> list[dict]:
    with Path(path).open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key in ("cores", "threads", "l2_bytes", "l3_bytes", "batch", "degree"):
            row[key] = int(row[key])
        for key in ("mean_ms", "p95_ms", "stress_intensity"):
            row[key] = float(row[key])
        row["co_runners"] = json.loads(row["co_runners"])
        row["samples_ms"] = [float(s) for s in row["samples_ms"].split()]
        for key in ("peak_tflops", "memory_gbps"):
            row[key] = float(row.get(key) or 0.0)
    if rows and "solo_ms" not in rows[0]:
        # Written before solo latency meant the median of the lone runs: recompute it from them.
        lone = {
            (r["device"], r["target"], r["batch"]): solo_latency(r["samples_ms"])
            for r in rows
            if r["degree"] == 0 and not r["stress"]
        }
        for row in rows:
            row["solo_ms"] = lone[row["device"], row["target"], row["batch"]]
            row.pop("solo_mean_ms", None)
    else:
        for row in rows:
            row["solo_ms"] = float(row["solo_ms"])
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument(
        "--samples", type=int, default=8, help="co-located scenarios per model and batch size"
    )
    parser.add_argument(
        "--devices", default=",".join(d[0] for d in DEVICES), help="which device shapes to profile"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--budget-s",
        dest="budget_s",
        type=float,
        default=1.2,
        help="seconds of runs per measurement: longer means less noise in the labels",
    )
    parser.add_argument(
        "--emulated-gpus",
        dest="emulated_gpus",
        default="",
        help="profile these emulated GPU types instead (e.g. T4,L4,A10,A100,H100): every model solo and "
        "beside sampled co-runner sets, from the device model (an emulation)",
    )
    parser.add_argument("--emulation-seed", dest="emulation_seed", type=int, default=0)
    parser.add_argument("--out", default="predictor/data/reference.csv")


def run_emulated(args: argparse.Namespace) -> None:
    from emulation.device_model import DeviceModel
    from emulation.gpus import gpu
    from emulation.workload import repository_workloads
    from predictor.emulated_profile import profile_emulated

    gpus = [gpu(name) for name in args.emulated_gpus.split(",")]
    workloads = repository_workloads(Path(args.repository), list_models(Path(args.repository)))
    rows = profile_emulated(DeviceModel(args.emulation_seed), workloads, gpus, args.seed, sets=args.samples)
    info = {**provenance(), "emulated_gpus": [g.name for g in gpus], "emulation_seed": args.emulation_seed}
    write_dataset(rows, Path(args.out), info)
    co_located = sum(1 for r in rows if r["co_runners"])
    print(f"{len(rows)} rows ({co_located / len(rows):.0%} co-located, emulated) written to {args.out}")


def run(args: argparse.Namespace) -> None:
    if args.emulated_gpus:
        run_emulated(args)
        return
    chosen = [d for d in DEVICES if d[0] in args.devices.split(",")]
    available = os.sched_getaffinity(0)
    chosen = [d for d in chosen if set(d[1]) <= available]
    if not chosen:
        raise SystemExit("interfleet profile: none of the chosen devices' cores are available here")
    rows: list[dict] = []
    context = multiprocessing.get_context("spawn")
    for device, cores, threads in chosen:  # one at a time: devices profiled together would interfere
        part = Path(args.out).with_suffix(f".{device}.jsonl")
        part.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        child = context.Process(
            target=profile_device,
            args=(device, cores, threads, args.repository, args.samples, args.seed, str(part), args.budget_s),
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"interfleet profile: profiling {device} failed (exit {child.exitcode})")
        new = [json.loads(line) for line in part.read_text().splitlines()]
        part.unlink()
        rows.extend(new)
        print(f"{device}: {len(new)} rows in {time.monotonic() - started:.0f} s", flush=True)
    write_dataset(rows, Path(args.out), provenance())
    print(f"{len(rows)} rows written to {args.out} (provenance beside it)")
