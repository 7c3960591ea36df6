"""What a batcher sees and decides."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.worker.batching.profile import LatencyProfile


@dataclass(frozen=True)
class QueueView:
    """The queue of one model at decision time, oldest request first.

    `items[i]` is request i's batch size (a client may send several items); `deadlines[i]` is
    when its answer is due (seconds, same clock as `now`; infinity when it has none).
    """

    now: float
    arrivals: Sequence[float]
    deadlines: Sequence[float]
    items: Sequence[int]
    arrival_rate: float = 0.0  # recent requests per second, for policies that wait for more


@dataclass(frozen=True)
class Decision:
    """Run the first `take` requests now, or (take == 0) wait until `wait_until` or the next
    arrival, whichever is first. `expired` lists requests (by index into the view) that can no
    longer meet their deadlines: they are served late, after the others, or refused if their
    deadline is hard. A decision with take == 0 and no `wait_until` must expire something."""

    take: int = 0
    wait_until: float | None = None
    expired: tuple[int, ...] = field(default_factory=tuple)


class Batcher(abc.ABC):
    name: str = ""

    def __init__(self, max_batch_size: int, slo_s: float):
        self.max_batch_size = max_batch_size
        self.slo_s = slo_s

    @property
    def effective_batch_size(self) -> int:
        """The largest batch this policy currently forms (for estimating how fast a queue drains)."""
        return self.max_batch_size

    @abc.abstractmethod
    def decide(self, queue: QueueView, profile: LatencyProfile) -> Decision:
        """Called when the execution thread is free and the queue is not empty."""

    def observe(self, batch_size: int, seconds: float) -> None:
        """Feedback after each batch, for policies that adapt from it (AIMD)."""


def items_fitting(items: Sequence[int], limit: int) -> int:
    """How many requests from the head fit into a batch of at most `limit` items (at least one)."""
    total = 0
    for count, size in enumerate(items):
        if total + size > limit:
            return max(count, 1)
        total += size
    return len(items)
