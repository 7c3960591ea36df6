"""A bounded memo: a dict that computes a missing value on first use and starts over when full.

For the request path's small pure functions whose arguments recur (a co-runner's rounded load, its
load-weighted graph features): a lookup is a dict hit, and a run that keeps meeting new arguments
(loads come from heartbeats) cannot grow it without bound.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(dict[K, V], Generic[K, V]):
    def __init__(self, compute: Callable[[K], V], size: int = 65536):
        super().__init__()
        self._compute = compute
        self._size = size

    def __missing__(self, key: K) -> V:
        if len(self) >= self._size:
            self.clear()
        value = self[key] = self._compute(key)
        return value
