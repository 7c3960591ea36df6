"""The placements users run today, each a small class with one method: `place(inventory, demand)`.

- `ReplicateAll`: every model on every GPU (Triton's default: each server loads the repository).
- `RandomPlacement`: each GPU hosts 1-3 models drawn uniformly, every model at least once.
- `LeastLoadedPlacement`: replicas in proportion to demand (`per_gpu` per GPU on average), each
  onto the GPU carrying the least demand so far (the seed paper's baseline): it balances request
  rates and knows nothing of devices.
- `FirstFitPacking`: gpulet/iGniter-style packing by solo capacity: for the largest demand scale
  that fits, models in decreasing demand are poured into GPUs (fastest type first) up to each
  GPU's capacity, as if co-located models time-shared it without slowing each other (it knows
  solo profiles, not interference).

The static placement of a fleet file is whatever that file says; it needs no class.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from interfleet.devices import DeviceTerms
from planner.capacity import CapacityModel
from planner.planner import GpuSlot, PlannedGpu

BASELINES = ("replicate-all", "random", "least-loaded", "first-fit")


class ReplicateAll:
    def place(self, inventory: Sequence[GpuSlot], demand: Mapping[str, float]) -> list[PlannedGpu]:
        models = tuple(sorted(m for m, d in demand.items() if d > 0))
        return [PlannedGpu(s.gpu_id, s.gpu_type, models) for s in inventory]


class RandomPlacement:
    def __init__(self, seed: int = 0, per_gpu: tuple[int, int] = (1, 3)):
        self.seed = seed
        self.per_gpu = per_gpu

    def place(self, inventory: Sequence[GpuSlot], demand: Mapping[str, float]) -> list[PlannedGpu]:
        rng = random.Random(self.seed)
        models = sorted(m for m, d in demand.items() if d > 0)
        chosen = [rng.sample(models, min(len(models), rng.randint(*self.per_gpu))) for _ in inventory]
        for i, m in enumerate(models):  # every model somewhere
            if not any(m in c for c in chosen) and inventory:
                chosen[i % len(chosen)].append(m)
        return [PlannedGpu(s.gpu_id, s.gpu_type, tuple(sorted(set(c)))) for s, c in zip(inventory, chosen)]


class LeastLoadedPlacement:
    def __init__(self, per_gpu: float = 3.0):
        self.per_gpu = per_gpu

    def place(self, inventory: Sequence[GpuSlot], demand: Mapping[str, float]) -> list[PlannedGpu]:
        wanted = {m: d for m, d in demand.items() if d > 0}
        total = sum(wanted.values())
        slots = max(len(wanted), round(self.per_gpu * len(inventory)))
        replicas = {m: min(len(inventory), max(1, round(slots * d / total))) for m, d in wanted.items()}
        pieces = sorted(
            ((wanted[m] / r, m) for m, r in replicas.items() for _ in range(r)), key=lambda p: (-p[0], p[1])
        )
        load = [0.0] * len(inventory)
        hosted: list[list[str]] = [[] for _ in inventory]
        for share, m in pieces:
            i = min((i for i in range(len(inventory)) if m not in hosted[i]), key=lambda i: (load[i], i))
            load[i] += share
            hosted[i].append(m)
        return [PlannedGpu(s.gpu_id, s.gpu_type, tuple(sorted(h))) for s, h in zip(inventory, hosted)]


class FirstFitPacking:
    def __init__(self, solo: CapacityModel, terms: Mapping[str, DeviceTerms], fill: bool = True):
        """`solo` must be interference-blind (no estimator): this baseline knows solo profiles only.
        `fill`: pack the largest multiple of the demand that fits (the fleet's max load); else
        the demand itself, on as few GPUs as first-fit takes (every GPU if it does not fit)."""
        self.solo = solo
        self.terms = terms
        self.fill = fill
        self._known: dict[tuple[str, str], tuple[float, int]] = {}

    def _capacity(self, model: str, gpu: str) -> tuple[float, int]:
        known = self._known.get((model, gpu))
        if known is None:
            column = self.solo.group(gpu, self.terms[gpu], (model,))
            known = self._known[(model, gpu)] = (column.rates[0], column.batches[0])
        return known

    def _pack(self, inventory: Sequence[GpuSlot], demand: Mapping[str, float]) -> list[dict[str, int]] | None:
        speed = {g: sum(self._capacity(m, g)[0] for m in demand) for g in {s.gpu_type for s in inventory}}
        order = sorted(range(len(inventory)), key=lambda i: (-speed[inventory[i].gpu_type], i))
        used = [0.0] * len(inventory)
        hosted: list[dict[str, int]] = [{} for _ in inventory]
        for m in sorted(demand, key=lambda m: -demand[m]):
            left = demand[m]
            for i in order:
                if left <= 0:
                    break
                rate, batch = self._capacity(m, inventory[i].gpu_type)
                if used[i] >= 1 - 1e-9 or rate <= 0:
                    continue
                take = min(left, (1 - used[i]) * rate)
                used[i] += take / rate
                hosted[i][m] = batch
                left -= take
            if left > 1e-9:
                return None
        return hosted

    def place(self, inventory: Sequence[GpuSlot], demand: Mapping[str, float]) -> list[PlannedGpu]:
        """The packing at the largest scale of `demand` that fits (bisected to 1%)."""
        wanted = {m: d for m, d in demand.items() if d > 0}
        total = sum(wanted.values())
        if not self.fill:
            exactly = self._pack(inventory, wanted)
            if exactly is not None:
                return _planned(inventory, exactly)
        low, high = 0.0, 1.0
        while self._pack(inventory, {m: d / total * high for m, d in wanted.items()}) is not None:
            low, high = high, high * 2
        while high - low > 0.01 * max(low, 1e-9) and high > 1e-6:
            middle = (low + high) / 2
            if self._pack(inventory, {m: d / total * middle for m, d in wanted.items()}) is None:
                high = middle
            else:
                low = middle
        packed = self._pack(inventory, {m: d / total * low for m, d in wanted.items()}) or [
            {} for _ in inventory
        ]
        return _planned(inventory, packed)


def _planned(inventory: Sequence[GpuSlot], hosted: Sequence[Mapping[str, int]]) -> list[PlannedGpu]:
    return [
        PlannedGpu(s.gpu_id, s.gpu_type, tuple(sorted(h)), tuple(h[m] for m in sorted(h)))
        for s, h in zip(inventory, hosted)
    ]
