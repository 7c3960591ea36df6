"""The tests' one fake clock: a callable returning seconds, moved only when a test says so."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float = 0.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
