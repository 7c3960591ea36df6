"""Which worker holds each live sequence of a stateful model, so every request of a sequence
reaches the worker that took its first (that worker holds the sequence's state).

A sequence is pinned when its START request is answered and unpinned by its END; a pin unused
for `idle_s` is forgotten (the worker forgets the sequence itself after the model's own
`max_sequence_idle_microseconds`, and says so if the sequence goes on). A sequence's requests
take `turn`s: one at a time, in the order they arrived (a stream's requests are otherwise
forwarded concurrently, and the second could overtake the START). Free of gRPC and Redis: the
dispatcher asks it, and tells it what was answered.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncIterator, Callable

SequenceKey = tuple[str, int | str]  # (model, sequence id)


class SequenceAffinity:
    def __init__(self, idle_s: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self._idle_s = idle_s
        self._clock = clock
        self._pins: collections.OrderedDict[SequenceKey, tuple[str, float]] = collections.OrderedDict()
        self._turns: dict[SequenceKey, tuple[asyncio.Lock, int]] = {}  # a lock and how many want it

    @contextlib.asynccontextmanager
    async def turn(self, key: SequenceKey) -> AsyncIterator[None]:
        """Hold the sequence's turn: its requests go one at a time, first come first served."""
        lock, users = self._turns.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._turns[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._turns[key]
            if users == 1:
                del self._turns[key]
            else:
                self._turns[key] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._pins)

    def _forget_idle(self, now: float) -> None:
        while self._pins:
            key, (_, used) = next(iter(self._pins.items()))
            if now - used <= self._idle_s:
                return
            del self._pins[key]

    def worker_of(self, key: SequenceKey) -> str | None:
        """The worker holding the sequence; None if it is not pinned (new, ended or forgotten)."""
        self._forget_idle(self._clock())
        pin = self._pins.get(key)
        return pin[0] if pin else None

    def answered(self, key: SequenceKey, worker_id: str, end: bool) -> None:
        """A request of the sequence was answered by `worker_id`."""
        self._pins.pop(key, None)
        if not end:
            self._pins[key] = (worker_id, self._clock())

    def workers(self) -> set[str]:
        """The workers holding some pinned sequence."""
        return {worker_id for worker_id, _ in self._pins.values()}

    def forget_worker(self, worker_id: str) -> None:
        """A worker left the fleet: the sequences it held are gone with it."""
        for key in [k for k, (w, _) in self._pins.items() if w == worker_id]:
            del self._pins[key]
