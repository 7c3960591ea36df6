"""Round-robin: each model's requests go to its workers in turn."""

from __future__ import annotations

import collections
from collections.abc import Sequence

from router.policies.base import Candidate, RoutingPolicy


class RoundRobin(RoutingPolicy):
    """Cycles through the candidates, one counter per model.

    Blind to load and to device speed: a slow or interfered worker gets the same share as a
    fast idle one. The candidate list may change between calls (workers come and go); the
    counter then simply continues over the new list.
    """

    name = "round-robin"

    def __init__(self) -> None:
        self._next: collections.Counter[str] = collections.Counter()

    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate:
        turn = self._next[model]
        self._next[model] = turn + 1
        return candidates[turn % len(candidates)]
