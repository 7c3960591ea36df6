"""One model's request queue and its batching decisions, free of threads, gRPC and clocks.

Three events drive it:

- `admit(payload, items, now, client_deadline)`: queue a request, or refuse it at once when
  the queue is full or, given the batch running and the queue ahead, it cannot meet its hard
  deadline;
- `step(now)`: the device is free; returns the requests to refuse (too late to run even alone),
  and either a batch to run now (the batcher's choice, cut to requests that batch together) or
  when to decide again;
- `started(batch, now)` / `finished(items, seconds, now)` (or `failed(now)`): the batch `step`
  gave began and ended; the latency profile and the batcher learn from its duration.

`in_flight` is the one count of a model's requests in flight that workers report, live and
simulated: admitted and not yet answered, whether queued or in the running batch.

Deadlines: batching aims every request at its arrival plus the model's SLO, or earlier if the
client says so, less the return hop (`return_hop_s`: the answer still has to travel to the
router and the client, so a batch that ends at the SLO delivers it late; for a model whose batch
is shorter than the hop this is the difference between batching and answering on time). The
client's deadline is also a hard limit; the SLO is one too when late requests are rejected
(`reject_late`), otherwise a request that misses its SLO is served after those that can still
make theirs.

The live worker's `ModelRunner` drives it from its asyncio loop and execution thread; the fleet
simulator drives the same class from its event heap.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from interfleet.errors import DeadlineExceeded, Overloaded
from services.worker.batching.arrival_rate import ArrivalRate
from services.worker.batching.base import Batcher, QueueView
from services.worker.batching.profile import LatencyProfile

P = TypeVar("P")


@dataclass
class Queued(Generic[P]):
    payload: P  # what the driver needs to answer it (a future, a simulated request)
    items: int
    arrival: float
    deadline: float  # what batching aims at: min(SLO, client deadline); inf once late
    hard_deadline: float  # past it the request is refused, not served; inf if never
    signature: tuple = ()  # requests batch together only if their signatures agree


@dataclass(frozen=True)
class Step(Generic[P]):
    """Run `batch` now; or, with no batch, decide again at `wait_until` or on the next arrival
    (`wait_until` None: at once, some requests were marked late and are runnable now).
    `refused` cannot meet their hard deadlines even alone: answer them DEADLINE_EXCEEDED."""

    batch: list[Queued[P]] = field(default_factory=list)
    refused: list[Queued[P]] = field(default_factory=list)
    wait_until: float | None = None

    @property
    def items(self) -> int:
        return sum(q.items for q in self.batch)


class ModelQueue(Generic[P]):
    def __init__(
        self,
        name: str,
        batcher: Batcher,
        profile: LatencyProfile,
        slo_s: float,
        max_queue: int,
        reject_late: bool = False,
        where: str = "",
        return_hop_s: float = 0.0,
    ):
        self.name = name
        self.batcher = batcher
        self.profile = profile
        self._slo_s = slo_s
        self._max_queue = max_queue
        self._reject_late = reject_late
        self._where = where  # for messages: "on worker w0"
        self.return_hop_s = return_hop_s
        self._queue: collections.deque[Queued[P]] = collections.deque()
        self._arrivals = ArrivalRate()
        self._busy_until = 0.0  # predicted end of the running batch
        self._running = 0  # requests in the running batch

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet answered: queued, or in the batch running now."""
        return len(self._queue) + self._running

    def admit(
        self, payload: P, items: int, now: float, client_deadline: float = math.inf, signature: tuple = ()
    ) -> Queued[P]:
        if len(self._queue) >= self._max_queue:
            raise Overloaded(f"model '{self.name}'{self._where}: queue full ({self._max_queue} waiting)")
        # Deadlines for the batch's end: the answer still needs the hop back to arrive in time.
        client_deadline -= self.return_hop_s
        slo_deadline = now + self._slo_s - self.return_hop_s
        hard_deadline = min(client_deadline, slo_deadline) if self._reject_late else client_deadline
        predicted = self.predicted_finish(now, items)
        if predicted > hard_deadline:
            raise DeadlineExceeded(
                f"model '{self.name}'{self._where}: cannot meet the deadline "
                f"({(hard_deadline - now) * 1e3:.1f} ms left, {(predicted - now) * 1e3:.1f} ms predicted with "
                f"{len(self._queue)} queued); rejected at once"
            )
        queued = Queued(payload, items, now, min(client_deadline, slo_deadline), hard_deadline, signature)
        self._arrivals.note(now)
        self._queue.append(queued)
        return queued

    def predicted_finish(self, now: float, items: int) -> float:
        """When a new request of `items` would finish, given the running batch and the queue ahead."""
        width = max(1, self.batcher.effective_batch_size)
        ahead = sum(q.items for q in self._queue) + items
        batches = math.ceil(ahead / width)
        return max(now, self._busy_until) + batches * self.profile.latency(min(ahead, width))

    def discard(self, gone: Callable[[Queued[P]], bool]) -> None:
        """Drop requests whose callers went away."""
        if any(gone(q) for q in self._queue):
            self._queue = collections.deque(q for q in self._queue if not gone(q))

    def drain(self) -> list[Queued[P]]:
        """Everything still queued, taken out (to be failed: the worker is stopping, or a bug)."""
        queued, self._queue = list(self._queue), collections.deque()
        return queued

    def step(self, now: float) -> Step[P]:
        refused, live = [], []
        for q in self._queue:
            if now + self.profile.latency(q.items) > q.hard_deadline:  # never run a request too late
                refused.append(q)
            else:
                live.append(q)
        self._queue = collections.deque(live)
        if not live:
            return Step(refused=refused, wait_until=math.inf)
        view = QueueView(
            now,
            [q.arrival for q in live],
            [q.deadline for q in live],
            [q.items for q in live],
            self._arrivals.per_second(now),
        )
        decision = self.batcher.decide(view, self.profile)
        for index in decision.expired:
            live[index].deadline = math.inf  # misses its SLO: served late, after those that can make it
        if not decision.take:
            return Step(refused=refused, wait_until=decision.wait_until)
        batch = self._compatible_prefix(live[: decision.take])
        for _ in batch:
            self._queue.popleft()
        return Step(batch, refused)

    def started(self, batch: list[Queued[P]], now: float) -> None:
        self._running = len(batch)
        self._busy_until = now + self.profile.latency(sum(q.items for q in batch))

    def finished(self, items: int, seconds: float, now: float) -> None:
        self._running = 0
        self._busy_until = now
        self.profile.observe(items, seconds, now)
        self.batcher.observe(items, seconds)

    def failed(self, now: float) -> None:
        self._running = 0
        self._busy_until = now

    @staticmethod
    def _compatible_prefix(queued: list[Queued[P]]) -> list[Queued[P]]:
        head = queued[0].signature
        batch = []
        for q in queued:
            if q.signature != head:
                break
            batch.append(q)
        return batch
