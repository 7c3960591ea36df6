"""What runs beside a request on each candidate's device, in the degradation model's terms.

A worker's device is a set of resources: CPU cores (its cpu_set) or a GPU. Workers whose sets
overlap interfere, on this box as on a GPU shared by two workers. For a target model on worker
w, the co-runners are every other model active on a worker sharing w's resources, each with its
load (busy fraction) scaled by the share of w's resources it reaches:

- a model on w itself counts with its full load (the target's own queue is counted apart, as
  the requests ahead of it);
- for a one-core worker, a model of a two-core worker that includes its core counts fully
  (its threads spread over both cores, one of them on this one);
- for the two-core worker, a model of a one-core worker counts half: it presses on one of
  the two cores the target runs on.

A model with a request in flight from this router is running now: load 1 (exact and current).
Otherwise its load is its busy fraction from the worker's heartbeat at half weight: that figure
is up to a second old and includes this router's own requests, already counted exactly, so it
brings in other routers' traffic without outweighing what this router knows now (at full
weight, a worker the router just drained still looks busy, and one it is flooding looks idle,
for a heartbeat: the herding that stale load signals cause).
Overlaps and device descriptors change only with the view, so they are computed once per view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from interfleet.predictor.features import CoRunner, Placement
from interfleet.proto import fleet_pb2
from interfleet.router.fleet_view import FleetView

MIN_LOAD = 0.05      # a co-runner below this is idle for the model's purposes
TELEMETRY_WEIGHT = 0.5


@dataclass(frozen=True)
class _Device:
    cores: int
    threads: int
    l2_bytes: int
    l3_bytes: int
    neighbours: tuple[tuple[str, float], ...]    # (worker id, share of this device's resources it reaches)


def _resources(state: fleet_pb2.WorkerState) -> frozenset:
    device = state.device
    if device.name.startswith("cuda"):
        return frozenset({("gpu", device.gpu.index)})
    cores = device.cpu.cpu_set or range(max(1, device.cpu.logical_cores))
    return frozenset(("cpu", core) for core in cores)


class PlacementBuilder:
    def __init__(self, outstanding: Callable[[str, str], int]):
        self._outstanding = outstanding       # (worker id, model) -> this router's requests in flight
        self._view = FleetView()
        self._devices: dict[str, _Device] = {}

    def update(self, view: FleetView) -> None:
        resources = {w: _resources(s) for w, s in view.workers.items()}
        by_resource: dict[object, set[str]] = {}
        for worker_id, held in resources.items():
            for resource in held:
                by_resource.setdefault(resource, set()).add(worker_id)
        devices = {}
        for worker_id, state in view.workers.items():
            mine = resources[worker_id]
            sharing = set().union(*(by_resource[r] for r in mine)) if mine else {worker_id}
            neighbours = tuple(sorted((other, len(mine & resources[other]) / len(mine)) for other in sharing))
            cpu, gpu = state.device.cpu, state.device.gpu
            is_gpu = state.device.name.startswith("cuda")
            devices[worker_id] = _Device(
                cores=max(1, gpu.sm_count) if is_gpu else len(mine), threads=1 if is_gpu else max(1, cpu.threads),
                l2_bytes=0 if is_gpu else cpu.l2_cache_bytes, l3_bytes=0 if is_gpu else cpu.l3_cache_bytes,
                neighbours=neighbours)
        self._view, self._devices = view, devices

    def placement(self, worker_id: str, model: str, solo_ms: float) -> Placement | None:
        device = self._devices.get(worker_id)
        if device is None or solo_ms <= 0:
            return None
        co_runners = []
        for other, share in device.neighbours:
            state = self._view.workers[other]
            for load in state.load:
                if other == worker_id and load.model == model:
                    continue
                running = self._outstanding(other, load.model) > 0
                busy = (1.0 if running else TELEMETRY_WEIGHT * load.busy_fraction) * share
                if busy >= MIN_LOAD:
                    co_runners.append(CoRunner(load.model, 1, min(busy, 1.0)))
        return Placement(target=model, batch=1, solo_ms=solo_ms, co_runners=tuple(co_runners),
                         cores=device.cores, threads=device.threads, l2_bytes=device.l2_bytes,
                         l3_bytes=device.l3_bytes)
