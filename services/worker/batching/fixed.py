"""The baselines with fixed settings: no batching, and Triton-style max batch + max delay."""

from __future__ import annotations

from services.worker.batching.base import Batcher, Decision, QueueView, items_fitting
from services.worker.batching.profile import LatencyProfile


class NoBatching(Batcher):
    """One request per execution, in arrival order."""

    name = "none"

    @property
    def effective_batch_size(self) -> int:
        return 1

    def decide(self, queue: QueueView, profile: LatencyProfile) -> Decision:
        return Decision(take=1)


class FixedBatching(Batcher):
    """Triton's dynamic batcher: run when `max_batch_size` items are queued or the oldest request
    has waited `max_delay_ms`, whichever is first. Blind to deadlines and to load: the delay is
    pure cost at low load and may be too short to fill batches at high load."""

    name = "fixed"

    def __init__(self, max_batch_size: int, slo_s: float, max_delay_ms: float = 2.0):
        super().__init__(max_batch_size, slo_s)
        self.max_delay_s = max_delay_ms / 1e3

    def decide(self, queue: QueueView, profile: LatencyProfile) -> Decision:
        if sum(queue.items) >= self.max_batch_size or queue.now >= queue.arrivals[0] + self.max_delay_s:
            return Decision(take=items_fitting(queue.items, self.max_batch_size))
        return Decision(wait_until=queue.arrivals[0] + self.max_delay_s)
