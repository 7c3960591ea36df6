"""Clipper's AIMD batch sizing: grow the batch cap additively while batches finish within the
latency objective, cut it multiplicatively when one does not. Runs whatever is queued, up to
the cap, without waiting; it learns the cap from latency alone, never from deadlines."""

from __future__ import annotations

from services.worker.batching.base import Batcher, Decision, QueueView, items_fitting
from services.worker.batching.profile import LatencyProfile


class AimdBatching(Batcher):
    name = "aimd"

    def __init__(
        self,
        max_batch_size: int,
        slo_s: float,
        step: int = 1,
        backoff: float = 0.9,
        target_fraction: float = 0.5,
    ):
        super().__init__(max_batch_size, slo_s)
        self._step = step
        self._backoff = backoff
        self._target_s = slo_s * target_fraction  # the batch's own share of the SLO
        self.cap = 1.0

    @property
    def effective_batch_size(self) -> int:
        return max(1, int(self.cap))

    def decide(self, queue: QueueView, profile: LatencyProfile) -> Decision:
        return Decision(take=items_fitting(queue.items, self.effective_batch_size))

    def observe(self, batch_size: int, seconds: float) -> None:
        if seconds > self._target_s:
            self.cap = max(1.0, self.cap * self._backoff)
        elif batch_size >= int(self.cap):
            self.cap = min(float(self.max_batch_size), self.cap + self._step)
