"""Solo latency, defined once: the median of a model's recent lone runs at a batch size on a device.

A run is lone when nothing else ran on the device while it did (no co-runner, no marked external
interference). The median, not the mean (one preempted run would drag it) nor the minimum (a
lucky run would set a bar no prediction reaches): degradation is co-located latency over this,
so the profiler's dataset, the predictor's online rows, the workers' heartbeats, the router and
the simulator must all divide by the same figure.
"""

from __future__ import annotations

import collections
import statistics
from collections.abc import Iterable

WINDOW = 50  # lone runs kept: recent enough to follow a device that changed, enough for a median


def solo_latency(samples: Iterable[float]) -> float:
    """The solo latency of these lone runs (any unit); 0 for none."""
    values = list(samples)
    return statistics.median(values) if values else 0.0


class SoloLatency:
    """A running solo latency over the last `WINDOW` lone runs."""

    def __init__(self, window: int = WINDOW):
        self._runs: collections.deque[float] = collections.deque(maxlen=window)

    def observe(self, seconds: float) -> None:
        self._runs.append(seconds)

    def __bool__(self) -> bool:
        return bool(self._runs)

    @property
    def value(self) -> float:
        return solo_latency(self._runs)
