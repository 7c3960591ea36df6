"""The device model's figures next to the published ones it is calibrated to, and the fit.

`python -m emulation.calibrate` prints them; `--fit` searches the MPS coefficients
(`Interference`) that bring them closest (least squares on log ratios) and prints the
result to put in `device_model.FITTED`. The unit tests hold TARGETS and DEPENDENCE (not
REPORTED, which the emulator misses).

The population is the realistic workload set (`catalog.REALISTIC`) at batch sizes 1 to 16,
under many seeds (each seed a different draw of the hidden per-model factors, as if the set
were many models), on a V100, like the published pairs of millisecond-scale CNNs. The pairs
are emulated as gpu-lets measured them: MPS gives the job p% of the SMs (p = 20 to 80) and its
co-runner the rest, and the slowdown is over the job alone on its p% (so compute never meets;
launches, bandwidth and L2 do). The dependence figures use that experiment's design too: every
job beside every co-runner. The k-copies figures are unpartitioned MPS.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
from collections.abc import Mapping

import numpy as np
from scipy.stats import spearmanr

from emulation.catalog import REALISTIC
from emulation.device_model import FITTED, DeviceModel, Interference
from emulation.gpus import GPUS, V100
from emulation.workload import Workload

TARGETS = {
    "pair_p50": 1.31,
    "pair_p90": 1.72,
    "pair_p99": 2.66,  # gpu-lets, 3,675 MPS pairs
    "copies_2": 1.79,
    "copies_3": 2.52,
    "copies_4": 3.33,  # k copies on one V100, MPS
    "t4_slower_than_v100": 2.86,
    "l4_faster_than_v100": 1.27,  # PPipe
}
# The co-runner dependence in gpu-lets' 3,675 pairs (docs/emulation.md says how it was read).
DEPENDENCE = {
    "heavy_job_heavy_over_light_co_runner": 2.51,  # median excess slowdown, top over bottom third
    "light_job_heavy_over_light_co_runner": 0.99,
    "spearman_co_runner_memory": 0.16,
}
# Reported, not fitted: the emulator misses it (docs/emulation.md says why).
REPORTED = {"batch_1_over_batch_16": 4.16}  # median excess slowdown of a job at batch 1 over at 16
BATCHES = (1, 2, 4, 8, 16)
PARTITIONS = (20, 40, 50, 60, 80)  # the job's share of SMs in gpu-lets' pairs, in percent


def figures(
    workloads: Mapping[str, Workload] = REALISTIC,
    interference: Interference = FITTED,
    seeds: int = 40,
    pairs: int = 3675,
) -> dict[str, float]:
    rng = random.Random(0)
    items = [(w, b) for w in workloads.values() for b in BATCHES]
    pair_slowdowns: list[float] = []
    copies: dict[int, list[float]] = {2: [], 3: [], 4: []}
    # The published k-copies runs used a compute-heavy CNN: the heaviest model at batch 16.
    heaviest = max(workloads.values(), key=lambda w: w.flops_per_item)
    # (job's memory share, co-runner's memory share, job's batch, slowdown): every job beside
    # every co-runner, as the published pairs were measured.
    grid: list[tuple[float, float, int, float]] = []
    for seed in range(seeds):
        device = DeviceModel(seed, interference=interference)
        for _ in range(math.ceil(pairs / seeds)):
            (wa, ba), (wb, bb) = rng.sample(items, 2)
            pair_slowdowns.append(_partitioned_pair(device, wa, ba, wb, bb, rng.choice(PARTITIONS))[2])
        d = device.demand(heaviest, V100, BATCHES[-1])
        for k in copies:
            copies[k].append(device.slowdown(d, [d] * (k - 1), V100))
        if seed < 4:
            for (wa, ba), (wb, bb), percent in itertools.product(items, items, PARTITIONS):
                if wa.model != wb.model:
                    job_memory, other_memory, slowdown = _partitioned_pair(device, wa, ba, wb, bb, percent)
                    grid.append((job_memory, other_memory, ba, slowdown))
    quantiles = np.quantile(pair_slowdowns, [0.5, 0.9, 0.99])
    speed: dict[str, list[float]] = {name: [] for name in ("T4", "L4")}
    device = DeviceModel(0, interference=interference)
    # PPipe profiled GPU-class models (CNNs, transformers) at serving batch sizes: those of at
    # least 0.3 GFLOP per item, at batches 4 to 16.
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
        **dependence(grid),
    }


def _partitioned_pair(
    device: DeviceModel, job: Workload, batch: int, other: Workload, other_batch: int, percent: int
) -> tuple[float, float, float]:
    """(job's memory share, co-runner's, job's slowdown): the job on `percent` of a V100's SMs
    under MPS, the co-runner on the rest."""
    mine, theirs = V100.mps_partition(percent), V100.mps_partition(100 - percent)
    a, b = device.demand(job, mine, batch), device.demand(other, theirs, other_batch)
    return a.memory, b.memory, device.slowdown(a, [b], mine, partitioned=True)


def dependence(grid: list[tuple[float, float, int, float]]) -> dict[str, float]:
    """The published dependence figures over (job memory, co-runner memory, batch, slowdown)."""
    job_memory, other_memory = np.array([g[0] for g in grid]), np.array([g[1] for g in grid])
    batch, slowdown = np.array([g[2] for g in grid]), np.array([g[3] for g in grid])
    job_low, job_high = np.quantile(job_memory, [1 / 3, 2 / 3])
    other_low, other_high = np.quantile(other_memory, [1 / 3, 2 / 3])

    def excess_ratio(jobs: np.ndarray) -> float:
        beside_heavy = np.median(slowdown[jobs & (other_memory >= other_high)]) - 1
        beside_light = np.median(slowdown[jobs & (other_memory <= other_low)]) - 1
        return float(beside_heavy / beside_light)

    return {
        "heavy_job_heavy_over_light_co_runner": excess_ratio(job_memory >= job_high),
        "light_job_heavy_over_light_co_runner": excess_ratio(job_memory <= job_low),
        "batch_1_over_batch_16": float(
            (np.median(slowdown[batch == 1]) - 1) / (np.median(slowdown[batch == BATCHES[-1]]) - 1)
        ),
        "spearman_co_runner_memory": float(spearmanr(slowdown, other_memory).statistic),
    }


def loss(got: Mapping[str, float]) -> float:
    """Squared log errors over the pair, copies and ratio targets, plus the rank correlations'."""
    ratios = {**{k: v for k, v in TARGETS.items() if k.startswith(("pair", "copies"))}, **DEPENDENCE}
    total = 0.0
    for name, target in ratios.items():
        if name.startswith("spearman"):
            total += (got[name] - target) ** 2
        else:
            total += math.log(got[name] / target) ** 2
    return total


def fit(start: Interference = FITTED) -> Interference:
    """The coefficients that minimise `loss`, by Nelder-Mead from `start` (a few minutes)."""
    from scipy.optimize import minimize

    def objective(x: np.ndarray) -> float:
        launch, memory, compute, sigma = x
        if not (0 <= launch <= 1 and memory >= 0 and compute >= 0 and sigma > 0):
            return 1e9
        return loss(figures(interference=Interference(*x), seeds=12, pairs=1200))

    x0 = [start.launch, start.memory, start.compute, start.sensitivity_sigma]
    best = minimize(
        objective, x0, method="Nelder-Mead", options={"xatol": 0.01, "fatol": 1e-4, "maxiter": 150}
    )
    return Interference(*(round(float(v), 3) for v in best.x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true", help="refit the MPS coefficients first")
    args = parser.parse_args()
    interference = fit() if args.fit else FITTED
    got = figures(interference=interference)
    published = {**TARGETS, **DEPENDENCE, **REPORTED}
    print(
        json.dumps(
            {
                "interference": vars(interference),
                "figures": {
                    k: {"emulated": round(v, 3), "published": published.get(k)} for k, v in got.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
