"""Batching policies for a model's queue, chosen per model by name (`none`, `fixed`, `aimd`, `adaptive`).

A batcher is a small class with one decision method over plain data (`QueueView` and a
`LatencyProfile`), free of threads, gRPC and clocks, so unit tests drive it with numbers and a
simulator could run it too.
"""

from __future__ import annotations

from typing import Any

from interfleet.errors import ConfigError
from services.worker.batching.adaptive import AdaptiveBatching
from services.worker.batching.aimd import AimdBatching
from services.worker.batching.base import Batcher, Decision, QueueView
from services.worker.batching.fixed import FixedBatching, NoBatching
from services.worker.batching.profile import LatencyProfile

BATCHERS: dict[str, type[Batcher]] = {
    cls.name: cls for cls in (NoBatching, FixedBatching, AimdBatching, AdaptiveBatching)
}


def make_batcher(name: str, max_batch_size: int, slo_s: float, args: dict[str, Any] | None = None) -> Batcher:
    cls = BATCHERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown batching policy {name!r} (policies: {', '.join(BATCHERS)})")
    try:
        return cls(max_batch_size=max_batch_size, slo_s=slo_s, **(args or {}))
    except TypeError as exc:
        raise ConfigError(f"batching policy {name!r}: bad arguments {args}: {exc}") from exc


__all__ = ["BATCHERS", "Batcher", "Decision", "LatencyProfile", "QueueView", "make_batcher"]
