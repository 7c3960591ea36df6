"""Online interference detection, as in ODIN: a worker persistently slower than predicted.

The degradation model knows the fleet's own models; it cannot know a tenant outside the fleet
(a batch job on the same cores, a throttled device). The router sees the symptom: requests
there take longer than it predicted. For each worker it keeps a time-weighted moving average
of log((observed + floor) / (predicted + floor)), with a half-life of `half_life_s` seconds so
that a burst of samples and a trickle weigh the same per second. The `floor_ms` added to both
sides keeps the network's sub-millisecond jitter on a tiny model's requests from reading as a
slowdown, while a heavy model's ratio is almost untouched.

A worker is judged against the rest of the fleet, not against 1: its excess is its ratio over
the smallest ratio among the other workers with enough evidence. While other workers may still
gather theirs (they have answered fewer than `min_samples` requests, or are in the router's
view, `track`, and have had less than 4 half-lives to answer any), nobody is judged; a worker is
judged against 1 only when it is alone. Otherwise the first worker to reach `min_samples` after
a start is judged against predictions that have not learnt the fleet's overhead yet and marked
for that model error (the routing test's calm worker was, 1.65-2.8x, in half of its runs).
Everything the model misses about
the whole fleet (the router and the clients sharing the machine, a model trained on other
hardware) raises every worker's ratio alike and must not single any of them out; an outside
tenant on one worker's cores raises that worker's alone. A worker whose excess exceeds
`mark_ratio` over at least `min_samples` observations is marked interfered, and its predictions
are multiplied by its excess until that falls below `clear_ratio` (hysteresis, so a worker near
the threshold does not flap). A marked worker that gets no requests for 4 half-lives has its
correction lifted, so it receives traffic again and the evidence is renewed.

The predictions compared are the uncorrected ones, so the correction never feeds back into the
evidence for it. Plain logic with an injected clock: no gRPC, no Redis.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

log = logging.getLogger(__name__)

REFERENCE_EVERY_S = 0.1


@dataclass
class WorkerEvidence:
    log_ratio: float = 0.0  # moving average of log(observed / predicted)
    samples: int = 0
    updated_at: float = 0.0
    interfered_since: float | None = None

    @property
    def ratio(self) -> float:
        return math.exp(self.log_ratio)


class InterferenceDetector:
    def __init__(
        self,
        mark_ratio: float = 1.5,
        clear_ratio: float = 1.2,
        half_life_s: float = 2.0,
        min_samples: int = 20,
        floor_ms: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not 1.0 <= clear_ratio < mark_ratio:
            raise ValueError("need 1 <= clear_ratio < mark_ratio")
        self._mark = math.log(mark_ratio)
        self._clear = math.log(clear_ratio)
        self._half_life_s = half_life_s
        self._min_samples = min_samples
        self._floor_ms = floor_ms
        self._expiry_s = 4 * half_life_s
        self._clock = clock
        self.workers: dict[str, WorkerEvidence] = {}
        # The two smallest ratios (with their workers) and up to two workers still gathering
        # evidence, refreshed at most every REFERENCE_EVERY_S: each request then costs O(1),
        # not a pass over a fleet of thousands of workers.
        self._lowest: tuple[tuple[float, str], ...] = ()
        self._gathering: tuple[str, ...] = ()
        self._lowest_at = -math.inf
        self._tracked: dict[str, float] = {}  # workers in the router's view -> when first seen

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
        reference = self._reference(now, worker_id)
        if reference is None:
            return  # the other workers are still gathering evidence: nothing to judge against
        excess = evidence.log_ratio - reference
        if evidence.interfered_since is None:
            if evidence.samples >= self._min_samples and excess > self._mark:
                evidence.interfered_since = now
                log.warning(
                    "worker %s marked interfered: %.2fx slower than predicted, %.2fx the fleet's best",
                    worker_id,
                    evidence.ratio,
                    math.exp(excess),
                )
        elif excess < self._clear:
            log.info(
                "worker %s recovered after %.1f s (%.2fx the fleet's best)",
                worker_id,
                now - evidence.interfered_since,
                math.exp(excess),
            )
            evidence.interfered_since = None

    def _reference(self, now: float, worker_id: str) -> float | None:
        """The smallest log ratio among the other workers with enough, recent evidence; None
        while other recent workers are still gathering theirs; 0 for a worker alone (judged
        against its predictions)."""
        if now - self._lowest_at >= REFERENCE_EVERY_S:
            recent = [(w, e) for w, e in self.workers.items() if now - e.updated_at <= self._expiry_s]
            self._lowest = tuple(
                heapq.nsmallest(2, ((e.log_ratio, w) for w, e in recent if e.samples >= self._min_samples))
            )
            gathering = [w for w, e in recent if e.samples < self._min_samples]
            # A worker in view that has not answered yet may only not have been sent anything so
            # far: wait for it as long as evidence stays recent, then judge without it.
            gathering += [
                w
                for w, seen in self._tracked.items()
                if w not in self.workers and now - seen <= self._expiry_s
            ]
            self._gathering = tuple(gathering[:2])
            self._lowest_at = now
        others = [ratio for ratio, w in self._lowest if w != worker_id]
        if others:
            return others[0]
        return None if any(w != worker_id for w in self._gathering) else 0.0

    def excess(self, worker_id: str) -> float:
        """The worker's ratio over the fleet's best (1.0 without evidence)."""
        evidence = self.workers.get(worker_id)
        reference = None if evidence is None else self._reference(self._clock(), worker_id)
        return 1.0 if evidence is None or reference is None else math.exp(evidence.log_ratio - reference)

    def interfered(self, worker_id: str) -> bool:
        evidence = self.workers.get(worker_id)
        return evidence is not None and evidence.interfered_since is not None

    def correction(self, worker_id: str) -> float:
        """What to multiply the worker's predictions by: its excess while interfered, else 1."""
        evidence = self.workers.get(worker_id)
        if evidence is None or evidence.interfered_since is None:
            return 1.0
        now = self._clock()
        if now - evidence.updated_at > self._expiry_s:
            return 1.0  # no recent evidence either way: let requests renew it
        reference = self._reference(now, worker_id)
        return 1.0 if reference is None else max(1.0, math.exp(evidence.log_ratio - reference))

    def track(self, worker_ids: Iterable[str]) -> None:
        """The workers now in the router's view: peers a worker is judged against once they
        have answered, and waited for while they have had little time to."""
        now = self._clock()
        current = set(worker_ids)
        self._tracked = {w: self._tracked.get(w, now) for w in current}
        self._lowest_at = -math.inf

    def forget(self, worker_id: str) -> None:
        """A worker that left the fleet (a new one under its id starts without history)."""
        self.workers.pop(worker_id, None)
        self._tracked.pop(worker_id, None)
        self._lowest_at = -math.inf
