"""Latency of one model on this device as a function of batch size, kept current.

Seeded at warm-up with measured latencies at a few batch sizes; every executed batch then
updates its size's estimate by an exponentially weighted average whose weight is set per
second of elapsed time, so a change (a co-tenant getting busy) is followed within a few
seconds however many batches run. Sizes never measured are read off a least-squares line
`a + b * n` through the measured ones (latency is close to affine in batch size).
"""

from __future__ import annotations

import math


def seed_sizes(max_batch_size: int) -> list[int]:
    """The batch sizes a profile is seeded at: the powers of two up to the limit, and the limit."""
    return sorted(
        {*(2**k for k in range(max_batch_size.bit_length()) if 2**k <= max_batch_size), max_batch_size}
    )


class LatencyProfile:
    def __init__(self, max_batch_size: int, half_life_s: float = 2.0):
        self.max_batch_size = max_batch_size
        self._half_life_s = half_life_s
        self._estimate: dict[int, float] = {}  # batch size -> seconds
        self._updated_at: dict[int, float] = {}
        self._line = (0.0, 0.0)

    def seed(self, measured: dict[int, float]) -> None:
        self._estimate.update(measured)
        self._fit()

    def observe(self, batch_size: int, seconds: float, now: float) -> None:
        previous = self._estimate.get(batch_size)
        if previous is None:
            self._estimate[batch_size] = seconds
        else:
            elapsed = max(0.0, now - self._updated_at.get(batch_size, now))
            # Weight of the new sample: at least 10%, more the longer since the last one.
            weight = max(0.1, 1.0 - math.pow(0.5, elapsed / self._half_life_s))
            self._estimate[batch_size] = previous + weight * (seconds - previous)
        self._updated_at[batch_size] = now
        self._fit()

    def latency(self, batch_size: int) -> float:
        """Predicted seconds to run a batch of `batch_size` items."""
        if batch_size in self._estimate:
            return self._estimate[batch_size]
        intercept, slope = self._line
        return max(intercept + slope * batch_size, 1e-6)

    def throughput_gain(self, batch_size: int) -> float:
        """Per-item cost at batch 1 over per-item cost at `batch_size` (1.0: batching buys nothing)."""
        return self.latency(1) / (self.latency(batch_size) / batch_size)

    def _fit(self) -> None:
        points = sorted(self._estimate.items())
        if len(points) == 1:
            ((n, t),) = points
            self._line = (0.0, t / n)
            return
        mean_n = sum(n for n, _ in points) / len(points)
        mean_t = sum(t for _, t in points) / len(points)
        var = sum((n - mean_n) ** 2 for n, _ in points)
        slope = sum((n - mean_n) * (t - mean_t) for n, t in points) / var if var else 0.0
        self._line = (mean_t - slope * mean_n, max(slope, 0.0))
