"""Power of two choices: Ray Serve's default request router, as a baseline."""

from __future__ import annotations

import random
from collections.abc import Sequence

from router.policies.base import Candidate, RoutingPolicy


class PowerOfTwoChoices(RoutingPolicy):
    """Samples two distinct candidates at random and picks the one with the shorter queue.

    Queue length is this router's outstanding requests there, ties broken by the worker-reported
    in-flight count for the model, then by the first sampled. Sampling two rather than scanning
    all keeps many routers from herding onto the same least-loaded worker between load updates
    (Mitzenmacher's result: two choices already give exponentially better maximum load than one).
    Like least-loaded it counts requests, not their cost on each device.
    """

    name = "power-of-two"

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate:
        if len(candidates) == 1:
            return candidates[0]
        first, second = self._random.sample(list(candidates), 2)
        return min((first, second), key=lambda c: (c.outstanding, c.in_flight))
