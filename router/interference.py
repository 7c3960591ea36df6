"""Online interference detection, as in ODIN: a worker persistently slower than predicted.

The degradation model knows the fleet's own models; it cannot know a tenant outside the fleet
(a batch job on the same cores, a throttled device). The router sees the symptom: requests
there take longer than it predicted. For each worker it keeps a time-weighted moving average
of log((observed + floor) / (predicted + floor)), with a half-life of `half_life_s` seconds so
that a burst of samples and a trickle weigh the same per second. A worker whose average exceeds
log(`mark_ratio`) over at least `min_samples` observations is marked interfered, and its
predictions are multiplied by the observed ratio until the average falls below
log(`clear_ratio`) (hysteresis, so a worker near the threshold does not flap). The `floor_ms`
added to both sides keeps the network's sub-millisecond jitter on a tiny model's requests from
reading as a slowdown, while a heavy model's ratio is almost untouched.

The predictions compared are the uncorrected ones, so the correction never feeds back into the
evidence for it. Plain logic with an injected clock: no gRPC, no Redis.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class WorkerEvidence:
    log_ratio: float = 0.0       # moving average of log(observed / predicted)
    samples: int = 0
    updated_at: float = 0.0
    interfered_since: float | None = None

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio)


class InterferenceDetector:
    def __init__(self, mark_ratio: float = 1.5, clear_ratio: float = 1.2, half_life_s: float = 2.0,
                 min_samples: int = 20, floor_ms: float = 1.0, clock: Callable[[], float] = time.monotonic):
        if not 1.0 <= clear_ratio < mark_ratio:
            raise ValueError("need 1 <= clear_ratio < mark_ratio")
        self._mark = math.log(mark_ratio)
        self._clear = math.log(clear_ratio)
        self._half_life_s = half_life_s
        self._min_samples = min_samples
        self._floor_ms = floor_ms
        self._clock = clock
        self.workers: dict[str, WorkerEvidence] = {}

    def observe(self, worker_id: str, predicted_ms: float, observed_ms: float) -> None:
        if predicted_ms <= 0 or observed_ms <= 0:
            return
        now = self._clock()
        evidence = self.workers.setdefault(worker_id, WorkerEvidence(updated_at=now))
        sample = math.log((observed_ms + self._floor_ms) / (predicted_ms + self._floor_ms))
        if evidence.samples == 0:
            evidence.log_ratio = sample
        else:
            # Weight per elapsed time, floored so that a steady stream still moves the average.
            weight = max(0.02, 1.0 - math.pow(0.5, (now - evidence.updated_at) / self._half_life_s))
            evidence.log_ratio += weight * (sample - evidence.log_ratio)
        evidence.samples += 1
        evidence.updated_at = now
        if evidence.interfered_since is None:
            if evidence.samples >= self._min_samples and evidence.log_ratio > self._mark:
                evidence.interfered_since = now
                log.warning("worker %s marked interfered: %.2fx slower than predicted", worker_id, evidence.ratio)
        elif evidence.log_ratio < self._clear:
            log.info("worker %s recovered after %.1f s (%.2fx predicted)", worker_id,
                     now - evidence.interfered_since, evidence.ratio)
            evidence.interfered_since = None

    def interfered(self, worker_id: str) -> bool:
        evidence = self.workers.get(worker_id)
        return evidence is not None and evidence.interfered_since is not None

    def correction(self, worker_id: str) -> float:
        """What to multiply the worker's predictions by: its observed ratio while interfered, else 1."""
        evidence = self.workers.get(worker_id)
        if evidence is None or evidence.interfered_since is None:
            return 1.0
        return evidence.ratio

    def forget(self, worker_id: str) -> None:
        """A worker that left the fleet (a new one under its id starts without history)."""
        self.workers.pop(worker_id, None)
