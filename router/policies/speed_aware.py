"""Speed-aware: the worker with the least expected work ahead, priced by solo latency."""

from __future__ import annotations

import random
from collections.abc import Sequence

from router.policies.base import Candidate, Needs, RoutingPolicy


class SpeedAware(RoutingPolicy):
    """Picks the candidate where the request is expected to finish first if nothing interfered:

        work(w) = drain(w, ahead(w) + 1) + sum over this router's other requests on w's
                  device of their solo latencies

    with ahead(w) this router's requests for the model in flight at w, drain(w, n) the time n
    of them take batched at solo speed (`Candidate.drain_ms`), solo latencies as the workers
    measured them alone. It knows that devices differ in speed (a fast GPU takes more of
    the load than least-loaded would give it) but not that co-located models slow each other:
    the baseline that interference-aware routing has to beat to earn its predictor. A worker
    that has not measured its solo latency yet counts as the slowest known.

    With `sample` d > 0 it compares only d candidates drawn at random (shortest expected delay
    over d sampled hosts): the argmin over every candidate sends a burst to the one fastest
    host, d random ones spread it the way power-of-two does.
    """

    name = "speed-aware"
    needs = Needs.PLACEMENT  # for `beside`: the other requests in flight on the device

    def __init__(self, seed: int | None = None, sample: int = 0) -> None:
        if sample < 0:
            raise ValueError("speed-aware's sample must be 0 (every candidate) or a count of candidates")
        self._random = random.Random(seed)
        self._sample = sample

    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate:
        if 0 < self._sample < len(candidates):
            candidates = self._random.sample(list(candidates), self._sample)
        slowest = max((c.solo_ms for c in candidates), default=0.0) or 1.0
        work = [
            c.drain_ms(c.outstanding_model + 1, c.solo_ms or slowest) + sum(ms * n for ms, n in c.beside)
            for c in candidates
        ]
        best = min(work)
        tied = [c for c, w in zip(candidates, work) if w == best]
        return tied[0] if len(tied) == 1 else self._random.choice(tied)
