"""What an emulated fleet is made of: GPUs of mixed types, each hosting a few models.

`mixed_fleet` deals GPU types round the fleet in a fixed mix and gives each GPU 2 to 4 models,
dealt so that every model is hosted about equally often and never twice on one GPU. The same
spec builds the simulated fleet (`interfleet simulate`) and the real emulated one
(`make eval-routing-gpu`), so the two can be compared.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_TYPES = ("T4", "L4", "A10", "A100", "H100")


@dataclass(frozen=True)
class GpuWorker:
    worker_id: str
    gpu: str  # an emulated type, e.g. "A100" or "A100-1g"
    models: tuple[str, ...]
    # Each model's largest batch here, in `models` order (a planner's choice); empty: the model's own.
    batch_caps: tuple[int, ...] = ()

    def batch_cap(self, model: str) -> int | None:
        return self.batch_caps[self.models.index(model)] if self.batch_caps else None


def mixed_fleet(
    size: int,
    models: Sequence[str],
    types: Sequence[str] = DEFAULT_TYPES,
    per_gpu: tuple[int, int] = (2, 4),
    seed: int = 0,
) -> list[GpuWorker]:
    rng = random.Random(seed)
    deck: list[str] = []
    fleet = []
    for index in range(size):
        count = min(len(models), rng.randint(*per_gpu))
        chosen: list[str] = []
        skipped: list[str] = []  # already on this GPU: dealt to the next one instead
        while len(chosen) < count:
            if not deck:
                deck = list(models)
                rng.shuffle(deck)
            model = deck.pop()
            (skipped if model in chosen else chosen).append(model)
        deck.extend(skipped)
        gpu = types[index % len(types)]
        fleet.append(GpuWorker(f"{gpu.lower()}-{index}", gpu, tuple(sorted(chosen))))
    return fleet
