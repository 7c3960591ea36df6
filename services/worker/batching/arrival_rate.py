"""A model's recent arrival rate, for batchers that decide whether more requests are coming.

A smoothed inter-arrival gap, except that a silence longer than that gap lowers the rate at
once: after a burst ends, the estimate must not keep a batcher waiting for arrivals that
stopped.
"""

from __future__ import annotations

import math


class ArrivalRate:
    def __init__(self, smoothing: float = 0.2):
        self._smoothing = smoothing
        self._gap_s = math.inf
        self._last: float | None = None

    def note(self, now: float) -> None:
        if self._last is not None:
            gap = now - self._last
            self._gap_s = (
                gap if math.isinf(self._gap_s) else self._gap_s + self._smoothing * (gap - self._gap_s)
            )
        self._last = now

    def per_second(self, now: float) -> float:
        if self._last is None or math.isinf(self._gap_s):
            return 0.0
        return 1.0 / max(self._gap_s, now - self._last, 1e-6)
