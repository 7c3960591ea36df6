"""Profiling on emulated GPUs: each model solo and beside sampled co-runner sets, as dataset rows.

The CPU profiler (`profiler.py`) measures real sessions; on an emulated GPU there is nothing
to time but the device model, so each "measurement" is a run of samples the way a worker would
see them: for each sample every co-runner is mid-batch with probability its load (its duty
cycle, independently), and the target's batch takes its solo time times the device model's
slowdown beside those running, times the device's jitter. Solo latency is the median of lone
runs (`interfleet.solo`), as everywhere. Rows have the CPU profile's format and the device
descriptors a worker's heartbeat gives (`emulation.heartbeat`), so the same predictor trains on
either, and on the online rows the fleet adds later.

For each GPU type and each target model and batch (`BATCHES`; a planner's profile,
`PLANNING_BATCHES`, goes up to 32 beside co-runners batching up to 32 too): the solo row, then `sets` co-runner sets of
degree 1 to 3 drawn from the other models, each at a load level. `keep` chooses which
(target, co-runner models) combinations make rows: `held_out` splits them, so a predictor can be
scored on combinations it never saw (`device_score.py`).

Everything here is an emulation; nothing reads the device model but to play the device.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence

from emulation.device_model import DeviceModel
from emulation.gpus import GpuSpec
from emulation.heartbeat import device_info
from emulation.workload import Workload
from interfleet.devices import device_terms
from interfleet.placement import CoRunner
from interfleet.solo import solo_latency
from predictor.features import row_of
from predictor.profiler import LOADS  # the CPU profile's load levels

BATCHES = (1, 4, 8)
CO_BATCHES = (1, 4)
# What a planner asks about: whole batches up to the catalog's 32, beside co-runners batching too.
PLANNING_BATCHES, PLANNING_CO_BATCHES = (1, 4, 8, 16, 32), (1, 4, 16, 32)
SAMPLES = 40


def co_runner_sets(
    models: Sequence[str], target: str, sets: int, rng: random.Random, batches: Sequence[int] = CO_BATCHES
) -> list[tuple[tuple[str, int, float], ...]]:
    """`sets` draws of 1-3 other models, each with a batch (one of `batches`) and a load level."""
    others = [m for m in models if m != target]
    drawn = []
    for _ in range(sets):
        degree = rng.randint(1, min(3, len(others)))
        drawn.append(
            tuple(sorted((m, rng.choice(batches), rng.choice(LOADS)) for m in rng.sample(others, degree)))
        )
    return drawn


def profile_emulated(
    device: DeviceModel,
    workloads: Mapping[str, Workload],
    gpus: Sequence[GpuSpec],
    seed: int,
    sets: int = 12,
    keep: Callable[[str, tuple[str, ...]], bool] = lambda target, co_runners: True,
    batches: Sequence[int] = BATCHES,
    co_batches: Sequence[int] = CO_BATCHES,
) -> list[dict]:
    rng = random.Random(seed)
    models = sorted(workloads)
    rows = []
    for gpu in gpus:
        terms = device_terms(device_info(gpu))
        name = f"emulated:{gpu.name}"
        for target in models:
            for batch in batches:
                alone = device.solo_s(workloads[target], gpu, batch) * 1e3
                runs = [alone * device.jitter(rng) for _ in range(SAMPLES)]
                solo_ms = solo_latency(runs)
                rows.append(row_of(terms.placement(target, batch, solo_ms, []), name, runs))
                job = device.demand(workloads[target], gpu, batch)
                for drawn in co_runner_sets(models, target, sets, rng, co_batches):
                    if not keep(target, tuple(m for m, _, _ in drawn)):
                        continue
                    demands = [(device.demand(workloads[m], gpu, b), load) for m, b, load in drawn]
                    samples = []
                    for _ in range(SAMPLES):
                        active = [d for d, load in demands if rng.random() < load]
                        samples.append(alone * device.slowdown(job, active, gpu) * device.jitter(rng))
                    placement = terms.placement(target, batch, solo_ms, [CoRunner(*c) for c in drawn])
                    rows.append(row_of(placement, name, samples))
    return rows


def held_out(target: str, co_runners: tuple[str, ...], share: float = 0.25) -> bool:
    """Whether this (target, co-runner models) combination is in the held-out `share`: a fixed
    hash, so training and scoring agree on the split whatever their seeds."""
    digest = hashlib.blake2b(repr((target, co_runners)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share
