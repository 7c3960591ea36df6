"""Workers that left the view, and when what the router keeps about them may go.

Fleets churn (pods are replaced, autoscaling adds and removes workers), and every worker id the
router has seen would otherwise keep its per-worker metrics series forever. A worker that has
been out of the view for `expiry_s` is forgotten; one that comes back in time keeps its history.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


class Departures:
    def __init__(self, expiry_s: float, clock: Callable[[], float] = time.monotonic):
        self._expiry_s = expiry_s
        self._clock = clock
        self._present: set[str] = set()
        self._left_at: dict[str, float] = {}

    def update(self, present: Iterable[str], forget: Callable[[str], None]) -> None:
        """Note the workers in the view now; call `forget(worker_id)` for each gone past expiry."""
        now = self._clock()
        present = set(present)
        for worker_id in self._present - present:
            self._left_at.setdefault(worker_id, now)
        for worker_id in present:
            self._left_at.pop(worker_id, None)
        self._present = present
        for worker_id in [w for w, left in self._left_at.items() if now - left >= self._expiry_s]:
            del self._left_at[worker_id]
            forget(worker_id)
