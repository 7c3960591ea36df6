"""Least-loaded: the worker with the fewest outstanding requests (the research's baseline)."""

from __future__ import annotations

import random
from collections.abc import Sequence

from router.policies.base import Candidate, RoutingPolicy


class LeastLoaded(RoutingPolicy):
    """Picks the candidate with the fewest requests outstanding from this router.

    Ties are broken by the worker-reported in-flight count for the model (which includes other
    routers' requests), then at random so that equal workers share the load. Outstanding counts
    are exact and local, so the choice reacts at once; but it treats a request as a request,
    whatever the device's speed or the co-located models slowing it down, which is exactly the
    gap an interference-aware policy closes.
    """

    name = "least-loaded"

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate:
        best = min((c.outstanding, c.in_flight) for c in candidates)
        tied = [c for c in candidates if (c.outstanding, c.in_flight) == best]
        return tied[0] if len(tied) == 1 else self._random.choice(tied)
