"""The device model's figures next to the published ones it is calibrated to.

`python -m emulation.calibrate [--repository model_repository]` prints them; the unit
tests hold each within 10% of its target. The population is the zoo's models at batch sizes 1
to 16, under many seeds (each seed a different draw of the hidden per-model factors, as if the
zoo were many models), on a V100 like the published measurements.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from emulation.device_model import DeviceModel
from emulation.gpus import GPUS, V100
from emulation.workload import Workload, repository_workloads

TARGETS = {
    "pair_p50": 1.31,
    "pair_p90": 1.72,
    "pair_p99": 2.66,  # gpu-lets, MPS pairs
    "copies_2": 1.79,
    "copies_3": 2.52,
    "copies_4": 3.33,  # k copies on one V100, MPS
    "t4_slower_than_v100": 2.86,
    "l4_faster_than_v100": 1.27,  # PPipe
}
BATCHES = (1, 2, 4, 8, 16)


def figures(workloads: Mapping[str, Workload], seeds: int = 40, pairs: int = 3675) -> dict[str, float]:
    rng = random.Random(0)
    items = [(w, b) for w in workloads.values() for b in BATCHES]
    pair_slowdowns: list[float] = []
    copies: dict[int, list[float]] = {2: [], 3: [], 4: []}
    # The published k-copies runs used a compute-heavy CNN: the zoo's heaviest model at batch 16.
    heaviest = max(workloads.values(), key=lambda w: w.flops_per_item)
    for seed in range(seeds):
        device = DeviceModel(seed)
        for _ in range(math.ceil(pairs / seeds)):
            (wa, ba), (wb, bb) = rng.sample(items, 2)
            first, second = device.demand(wa, V100, ba), device.demand(wb, V100, bb)
            pair_slowdowns.append(device.slowdown(first, [second], V100))
        d = device.demand(heaviest, V100, BATCHES[-1])
        for k in copies:
            copies[k].append(device.slowdown(d, [d] * (k - 1), V100))
    quantiles = np.quantile(pair_slowdowns, [0.5, 0.9, 0.99])
    speed: dict[str, list[float]] = {name: [] for name in ("T4", "L4")}
    device = DeviceModel(0)
    # PPipe profiled GPU-class models (CNNs, transformers) at serving batch sizes: the zoo's
    # models of at least 0.3 GFLOP per item, at batches 4 to 16.
    gpu_class = [(w, b) for w, b in items if w.flops_per_item >= 0.3e9 and b >= 4]
    for (w, b), name in itertools.product(gpu_class, speed):
        speed[name].append(math.log(device.solo_s(w, GPUS[name], b) / device.solo_s(w, V100, b)))
    return {
        "pair_p50": float(quantiles[0]),
        "pair_p90": float(quantiles[1]),
        "pair_p99": float(quantiles[2]),
        "pair_max": float(max(pair_slowdowns)),
        **{f"copies_{k}": float(np.median(v)) for k, v in copies.items()},
        "t4_slower_than_v100": math.exp(float(np.mean(speed["T4"]))),
        "l4_faster_than_v100": math.exp(-float(np.mean(speed["L4"]))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    args = parser.parse_args()
    models = sorted(p.name for p in Path(args.repository).iterdir() if (p / "config.yaml").exists())
    got = figures(repository_workloads(Path(args.repository), models))
    print(
        json.dumps(
            {k: {"emulated": round(v, 3), "published": TARGETS.get(k)} for k, v in got.items()}, indent=2
        )
    )


if __name__ == "__main__":
    main()
