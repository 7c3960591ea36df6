"""The live fleet in the planner's terms, read off the workers' heartbeats.

- `demand_of(states)`: requests per second per model, the sum over workers of what each was
  offered recently (answered or not: a fleet that cannot keep up still reads its demand), or
  of its throughput where that is higher;
- `live_inputs(states)`: the inventory (each worker a GPU type of its own, count 1: workers'
  devices differ in cores, speed and neighbours), each device's descriptors, what each model
  needs (SLO, batch limit), and solo profiles: a model's batch-1 solo latency and full-batch
  latency where a worker hosts it (`batch_curve` fills the sizes between), lent to workers of
  the same device name that do not (a model never measured on a device is not placed there).
  Given `known`, the profiles measured earlier, it keeps them there and lends them too: a model
  unloaded from every worker of a device name can be placed there again on the next re-plan;
- `placement_of(states)`: worker -> the models it serves now.
"""

from __future__ import annotations

from collections.abc import Iterable

from interfleet.devices import DeviceTerms, device_terms
from interfleet.proto import fleet_pb2
from planner.capacity import ModelNeeds
from planner.planner import GpuSlot
from services.worker.batching.profile import seed_sizes


def demand_of(states: Iterable[fleet_pb2.WorkerState]) -> dict[str, float]:
    demand: dict[str, float] = {}
    for state in states:
        for load in state.load:
            rate = max(0.0, load.throughput_rps, load.offered_rps)
            demand[load.model] = demand.get(load.model, 0.0) + rate
    return demand


def placement_of(states: Iterable[fleet_pb2.WorkerState]) -> dict[str, frozenset[str]]:
    return {s.worker_id: frozenset(m.name for m in s.models) for s in states if s.ready}


def batch_curve(solo_ms: float, max_batch: int, full_ms: float) -> dict[int, float]:
    """Latency (ms) at the powers of two up to `max_batch` and at it, on the line through the two
    points a heartbeat gives (batch 1, a full batch): a batch's cost is close to affine in its
    size on these devices, and the planner needs the sizes between."""
    if max_batch <= 1 or full_ms <= 0:
        return {1: solo_ms}
    slope = (full_ms - solo_ms) / (max_batch - 1)
    return {b: solo_ms + slope * (b - 1) for b in seed_sizes(max_batch)}


def live_inputs(
    states: Iterable[fleet_pb2.WorkerState],
    known: dict[tuple[str, str], dict[int, float]] | None = None,
) -> tuple[
    list[GpuSlot], dict[str, DeviceTerms], dict[str, ModelNeeds], dict[tuple[str, str], dict[int, float]]
]:
    ready = [s for s in states if s.ready]
    slots = [GpuSlot(s.worker_id, s.worker_id) for s in ready]
    terms = {s.worker_id: device_terms(s.device) for s in ready}
    needs: dict[str, ModelNeeds] = {}
    # (model, device name) -> profile: what is measured now replaces what was known
    measured: dict[tuple[str, str], dict[int, float]] = known if known is not None else {}
    seen: set[tuple[str, str]] = set()
    for s in ready:
        for m in s.models:
            needs[m.name] = ModelNeeds(m.name, m.slo_ms, max(1, m.max_batch_size))
            if (m.name, s.device.name) not in seen:
                seen.add((m.name, s.device.name))
                measured[(m.name, s.device.name)] = batch_curve(
                    m.solo_latency_ms, m.max_batch_size, m.full_batch_latency_ms
                )
    profile = {
        (model, s.worker_id): curve
        for s in ready
        for (model, device), curve in measured.items()
        if device == s.device.name and model in needs
    }
    return slots, terms, needs, profile
