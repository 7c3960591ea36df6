"""The router's in-memory view of the fleet: an immutable snapshot of the workers' heartbeats.

Nothing on the request path waits on Redis: requests read the latest `FleetView`, swapped in
whole by `router.fleet_watcher.FleetWatcher`. Plain data, so the router core and the simulator
build and read it alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from interfleet.proto import fleet_pb2


@dataclass(frozen=True)
class FleetView:
    workers: dict[str, fleet_pb2.WorkerState] = field(default_factory=dict)
    by_model: dict[str, tuple[str, ...]] = field(default_factory=dict)  # model -> worker ids
    loads: dict[tuple[str, str], fleet_pb2.ModelLoad] = field(default_factory=dict)  # (worker, model)
    solo_ms: dict[tuple[str, str], float] = field(default_factory=dict)  # (worker, model): measured solo
    # (worker, model): (max batch size, latency of a full batch in ms), how fast its queue drains
    full_batch: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, states: Iterable[fleet_pb2.WorkerState]) -> FleetView:
        workers = {s.worker_id: s for s in states if s.ready}
        by_model: dict[str, list[str]] = {}
        for worker_id in sorted(workers):
            for model in workers[worker_id].models:
                by_model.setdefault(model.name, []).append(worker_id)
        loads = {(s.worker_id, load.model): load for s in workers.values() for load in s.load}
        solo = {(s.worker_id, m.name): m.solo_latency_ms for s in workers.values() for m in s.models}
        full = {
            (s.worker_id, m.name): (max(1, m.max_batch_size), m.full_batch_latency_ms)
            for s in workers.values()
            for m in s.models
        }
        return cls(workers, {m: tuple(ids) for m, ids in by_model.items()}, loads, solo, full)
