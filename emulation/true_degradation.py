"""Degradation read off the emulated device model itself: what a perfect predictor would say.

Given a placement (a target on a device, co-runners with their loads), it returns the
expected slowdown the device model would impose: each co-runner is running with probability
its load, independently, and the expectation is taken exactly over which of them run. It knows
the hidden per-model sensitivities and the true roofline, which no real router could. The
evaluations feed it to interference-aware routing ("interference-aware (true degradation)") to
show how much the learnt predictor leaves on the table, and score the predictor against it. It
is not an upper bound on anything: the policy it feeds is still a greedy heuristic.
It serves only emulated GPUs: a placement on any other device gets None,
and the policy falls back as it would without a model.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

from emulation.device_model import DeviceModel
from emulation.gpus import GPUS, GpuSpec
from emulation.workload import Workload, repository_workloads
from interfleet.placement import Placement
from interfleet.repository import list_models


class TrueDegradation:
    """A degradation estimator (`router.policies.DegradationEstimator`) that reads the emulated
    device model: the true expected degradation of each placement."""

    @classmethod
    def for_repository(cls, repository: Path, seed: int = 0, sharing: str = "mps") -> TrueDegradation:
        """The true degradation of a fleet whose emulated workers serve `repository` with this `seed` and `sharing`."""
        return cls(DeviceModel(seed, sharing), repository_workloads(repository, list_models(repository)))

    def __init__(self, device: DeviceModel, workloads: Mapping[str, Workload]):
        self._device = device
        self._workloads = workloads
        self._gpus: dict[tuple[float, float], GpuSpec] = {
            (g.peak_tflops, g.memory_gbps): g for g in GPUS.values()
        }
        self._memo: dict[Placement, float] = {}

    def __call__(self, placements: Sequence[Placement]) -> Sequence[float] | None:
        out = []
        for p in placements:
            value = self._memo.get(p)
            if value is None:
                value = self._expected(p)
                if value is None:
                    return None
                if len(self._memo) > 100_000:
                    self._memo.clear()
                self._memo[p] = value
            out.append(value)
        return out

    def _expected(self, p: Placement) -> float | None:
        gpu = self._gpus.get((p.peak_tflops, p.memory_gbps))
        if (
            gpu is None
            or p.target not in self._workloads
            or any(c.model not in self._workloads for c in p.co_runners)
        ):
            return None
        device = self._device
        job = device.demand(self._workloads[p.target], gpu, p.batch)
        others = [
            (device.demand(self._workloads[c.model], gpu, c.batch), min(1.0, c.load)) for c in p.co_runners
        ]
        expected = 0.0
        for running in itertools.product((False, True), repeat=len(others)):
            chance = 1.0
            for (_, load), on in zip(others, running):
                chance *= load if on else 1.0 - load
            if chance:
                active = [demand for (demand, _), on in zip(others, running) if on]
                expected += chance * device.slowdown(job, active, gpu)
        return expected
