"""Live batch records as training rows, the way the profiler writes them.

A BatchRecord says which model ran, at what batch size, for how long, and which other models'
executions overlapped it. To make it a placement we also need the model's solo latency on that
worker (`interfleet.solo`: the median of its recent lone batches of that size), each
co-runner's load (its busy fraction in the worker's latest heartbeat) and the device's
descriptors (from the same heartbeat). A record does not carry its co-runners' batch sizes;
they are taken as 1. Records that lack any of these are skipped and counted,
never fatal: a worker that has not yet run a model alone simply has nothing to teach yet.

A record a worker produced while a router had it marked interfered (slower than predicted for
reasons outside the fleet, see `router.interference`) is labelled as running beside
an external stressor of unknown kind, taken as "cpu", with intensity the observed slowdown less
one (capped at 1); it never counts as a solo run.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

from interfleet.devices import device_terms
from interfleet.placement import MIN_CO_RUNNER_LOAD, CoRunner
from interfleet.proto import fleet_pb2
from interfleet.solo import SoloLatency
from interfleet.telemetry.marks import InterferenceMark
from predictor.features import row_of


class RowMaker:
    def __init__(self, known_model: Callable[[str], bool]):
        self._known_model = known_model
        self._solo: dict[tuple[str, str, int], SoloLatency] = collections.defaultdict(SoloLatency)
        self.states: dict[str, fleet_pb2.WorkerState] = {}
        self.marks: dict[str, InterferenceMark] = {}  # worker id -> its latest interference mark
        self.skipped: collections.Counter[str] = collections.Counter()

    def row(self, record: fleet_pb2.BatchRecord) -> dict | None:
        if not record.model or record.batch_size < 1 or record.compute_ms <= 0 or not record.worker_id:
            self.skipped["missing fields"] += 1
            return None
        if not self._known_model(record.model) or not all(self._known_model(m) for m in record.co_runners):
            self.skipped["model not in the repository"] += 1
            return None
        state = self.states.get(record.worker_id)
        if state is None:
            self.skipped["unknown worker"] += 1
            return None
        key = (record.worker_id, record.model, record.batch_size)
        mark = self.marks.get(record.worker_id)
        if mark is not None and not mark.covers(record.started_at):
            mark = None
        if not record.co_runners and mark is None:
            self._solo[key].observe(record.compute_ms)
        if not self._solo[key]:
            self.skipped["no solo latency yet"] += 1
            return None
        loads = {load.model: load.busy_fraction for load in state.load}
        co_runners = [
            CoRunner(m, 1, round(max(loads.get(m, 1.0), MIN_CO_RUNNER_LOAD), 3))
            for m in sorted(record.co_runners)
        ]
        placement = device_terms(state.device).placement(
            record.model,
            record.batch_size,
            self._solo[key].value,
            co_runners,
            stress="cpu" if mark else "",
            stress_intensity=min(1.0, max(0.0, mark.ratio - 1.0)) if mark else 0.0,
        )
        return row_of(placement, state.worker_id, [record.compute_ms])
