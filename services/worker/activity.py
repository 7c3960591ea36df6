"""Which models are executing on the device right now, and which overlapped a given execution.

Each execution registers when it starts running and learns, when it ends, every other model
whose execution overlapped it: those are its co-runners, recorded with each batch as the
predictor's evidence of interference. Called from the models' execution threads.
"""

from __future__ import annotations

import itertools
import threading


class DeviceActivity:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, tuple[str, set[str]]] = {}
        self._tokens = itertools.count()

    def begin(self, model: str) -> int:
        with self._lock:
            token = next(self._tokens)
            overlapping = {name for name, _ in self._running.values() if name != model}
            for name, seen in self._running.values():
                if name != model:
                    seen.add(model)
            self._running[token] = (model, overlapping)
            return token

    def end(self, token: int) -> frozenset[str]:
        with self._lock:
            _, overlapping = self._running.pop(token)
            return frozenset(overlapping)
