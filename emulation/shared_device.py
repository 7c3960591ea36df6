"""One emulated GPU over time: batches that share it progress at rates that change as they come and go.

Each running batch holds an amount of work, measured in seconds of solo execution. While a set
of batches runs together, each progresses at 1 / slowdown (the device model's, given the others),
and the rates are worked out again whenever a batch starts or finishes. So a batch that starts
beside a heavy co-runner and finds itself alone halfway runs the second half at full speed.

Pure and clock-free: the caller says what time it is. The fleet simulator drives it from its
event heap; `RealtimeDevice` drives it from the wall clock for workers that emulate a GPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from emulation.device_model import Demand, DeviceModel
from emulation.gpus import GpuSpec

K = TypeVar("K")

_DONE = 1e-12  # seconds of work left below which a batch is finished (float rounding)


@dataclass
class _Running:
    demand: Demand
    remaining: float  # seconds of solo work left
    rate: float = 1.0  # solo seconds done per second
    co_runners: set[str] = field(default_factory=set)  # models that ran beside it at any point


class SharedDevice(Generic[K]):
    """Batches running on one emulated GPU, each under a key of the caller's (a model, a token)."""

    def __init__(self, gpu: GpuSpec, model: DeviceModel):
        self.gpu = gpu
        self.model = model
        self._jobs: dict[K, _Running] = {}
        self._at = 0.0

    def __len__(self) -> int:
        return len(self._jobs)

    def start(self, key: K, demand: Demand, solo_s: float, now: float) -> None:
        """A batch of `solo_s` seconds' solo work starts at `now`."""
        self.advance(now)
        self._jobs[key] = _Running(demand, solo_s)
        self._rerate()

    def finish(self, key: K, now: float) -> frozenset[str]:
        """Take a finished batch off the device; returns the models that ran beside it."""
        self.advance(now)
        job = self._jobs.pop(key)
        self._rerate()
        return frozenset(job.co_runners)

    def advance(self, now: float) -> None:
        elapsed = now - self._at
        if elapsed > 0:
            for job in self._jobs.values():
                job.remaining = max(0.0, job.remaining - job.rate * elapsed)
        self._at = max(self._at, now)

    def next_finish(self) -> tuple[float, K] | None:
        """When the first running batch will finish if nothing changes, and which."""
        if not self._jobs:
            return None
        key = min(self._jobs, key=self.finishes_at)
        return self.finishes_at(key), key

    def finishes_at(self, key: K) -> float:
        job = self._jobs[key]
        return self._at + (job.remaining / job.rate if job.remaining > _DONE else 0.0)

    def _rerate(self) -> None:
        jobs = list(self._jobs.values())
        models = [job.demand.model for job in jobs]
        for i, job in enumerate(jobs):
            others = [o.demand for j, o in enumerate(jobs) if j != i]
            job.rate = 1.0 / self.model.slowdown(job.demand, others, self.gpu)
            job.co_runners.update(m for j, m in enumerate(models) if j != i)
        if not math.isfinite(sum(job.rate for job in jobs)):
            raise ArithmeticError("a batch's rate is not finite")
