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
The same pass lists this router's requests in flight on those cores (`Beside`), the ones a
request sent there would slow down. Overlaps, device descriptors and the heartbeats' part
change only with the view, so they are computed once per view; the device's terms come from
`interfleet.devices`, the mapping the predictor's online rows use too. Within a view, a placement is
a function of this router's in-flight counts on the device, which take few distinct values:
it is built once per distinct state and handed out again (the same object, which lets the
degradation scorer recognise it at once), so a request pays for reading the counts only.
What a state can make of each co-runner is fixed by the view too (its `CoRunner` when it has a
request in flight here, its `CoRunner` on the heartbeat's figure alone, or none when that is below
`MIN_CO_RUNNER_LOAD`), so both are made once per view and a new state only picks between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from interfleet.devices import DeviceTerms, device_terms
from interfleet.placement import MIN_CO_RUNNER_LOAD, CoRunner, Placement
from interfleet.proto import fleet_pb2
from router.fleet_view import FleetView

# This router's requests in flight on a device's cores, other than those queued ahead in the
# target's own queue: (their solo latency, how many x the share of the device they reach).
Beside = tuple[tuple[float, float], ...]
TELEMETRY_WEIGHT = 0.5


MEMO_SIZE = 8192  # distinct placements kept per view before the memo starts over


class _Neighbour(NamedTuple):
    """A model on a worker sharing a device, as any in-flight state makes it appear there."""

    worker_id: str
    model: str
    busy: CoRunner | None  # with a request of this router in flight: the share of the device it reaches
    idle: CoRunner | None  # without: its heartbeat's load, weighted (None: too idle to count)
    solo_ms: float  # its solo latency on its worker (0 when unmeasured: it imposes nothing known)
    share: float  # share of this device's resources its worker reaches


@dataclass(frozen=True)
class _Device:
    terms: DeviceTerms
    # Every model of every worker sharing this device (sorted by worker, then in heartbeat order).
    neighbours: tuple[_Neighbour, ...]
    # The same models' in-flight counters at this router: (that worker's counts by model, model).
    counters: tuple[tuple[Mapping[str, int], str], ...]


def _co_runner(model: str, load: float) -> CoRunner | None:
    return CoRunner(model, 1, min(load, 1.0)) if load >= MIN_CO_RUNNER_LOAD else None


def _resources(state: fleet_pb2.WorkerState) -> frozenset:
    device = state.device
    if device.name.startswith("emulated:"):
        return frozenset({("emulated", state.worker_id)})  # each emulated worker is a GPU of its own
    if device.name.startswith("cuda"):
        host = state.address.rpartition(":")[0]
        return frozenset({("gpu", host, device.gpu.index)})
    cores = device.cpu.cpu_set or range(max(1, device.cpu.logical_cores))
    return frozenset(("cpu", core) for core in cores)


class PlacementBuilder:
    def __init__(self, in_flight: Callable[[str], Mapping[str, int]]):
        # worker id -> this router's requests in flight there by model: a live mapping, read per request.
        self._in_flight = in_flight
        self._devices: dict[str, _Device] = {}
        self._memo: dict[tuple, tuple[Placement, Beside]] = {}

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
            neighbours = tuple(
                _Neighbour(
                    other,
                    load.model,
                    _co_runner(load.model, share),
                    _co_runner(load.model, TELEMETRY_WEIGHT * load.busy_fraction * share),
                    view.solo_ms.get((other, load.model), 0.0),
                    share,
                )
                for other, share in sorted((o, len(mine & resources[o]) / len(mine)) for o in sharing)
                for load in view.workers[other].load
            )
            devices[worker_id] = _Device(
                device_terms(state.device),
                neighbours=neighbours,
                counters=tuple((self._in_flight(n.worker_id), n.model) for n in neighbours),
            )
        self._devices = devices
        self._memo = {}

    def placement(self, worker_id: str, model: str, solo_ms: float) -> tuple[Placement, Beside] | None:
        """What runs on the worker's device now, and this router's requests in flight there."""
        device = self._devices.get(worker_id)
        if device is None or solo_ms <= 0:
            return None
        counts = tuple([counter.get(co_model, 0) for counter, co_model in device.counters])
        key = (worker_id, model, solo_ms, counts)
        placed = self._memo.get(key)
        if placed is None:
            if len(self._memo) >= MEMO_SIZE:
                self._memo = {}
            placed = self._memo[key] = self._build(device, worker_id, model, solo_ms, counts)
        return placed

    @staticmethod
    def _build(
        device: _Device, worker_id: str, model: str, solo_ms: float, counts: tuple[int, ...]
    ) -> tuple[Placement, Beside]:
        co_runners, beside = [], []
        for neighbour, in_flight in zip(device.neighbours, counts):
            if neighbour.worker_id == worker_id and neighbour.model == model:
                continue  # ahead of this request in the same queue: not slowed by it
            if in_flight > 0:
                if neighbour.busy is not None:
                    co_runners.append(neighbour.busy)
                if neighbour.solo_ms > 0:
                    beside.append((neighbour.solo_ms, in_flight * neighbour.share))
            elif neighbour.idle is not None:
                co_runners.append(neighbour.idle)
        return device.terms.placement(model, 1, solo_ms, co_runners), tuple(beside)
