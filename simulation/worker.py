"""One worker on an emulated GPU, as the simulator runs it.

It holds what the live worker holds, with the same classes: a `ModelQueue` per model (the
worker's batcher and latency profile, seeded from batches run at start-up), a `SoloLatency`
per model kept from its lone batch-1 runs, and the emulated device its models share. Instead of
threads and a heartbeat task it is driven by the simulator: `start_batch` and `finish_batch` as
the event heap reaches them, `state` when a heartbeat is due.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from emulation.device_model import DeviceModel
from emulation.gpus import gpu
from emulation.heartbeat import device_info
from emulation.shared_device import SharedDevice
from emulation.workload import Workload
from interfleet.proto import fleet_pb2
from interfleet.solo import SoloLatency
from services.worker.batching import LatencyProfile, make_batcher
from services.worker.batching.profile import seed_sizes
from services.worker.batching.queue import ModelQueue, Queued
from simulation.fleet_spec import GpuWorker

MAX_QUEUE = 256
SEED_RUNS = 7  # batch-1 runs at start-up that seed the solo latency, as the live worker does


@dataclass(frozen=True)
class ModelSettings:
    slo_ms: float
    max_batch_size: int
    batching: str = "adaptive"


@dataclass
class _Running:
    batch: list[Queued[int]]
    items: int
    started: float


@dataclass
class _ModelState:
    queue: ModelQueue[int]
    solo: SoloLatency
    running: _Running | None = None
    step_token: int = 0  # the newest scheduled decision; older ones are stale
    busy_s: float = 0.0  # device time of its batches since the last heartbeat


class SimWorker:
    def __init__(
        self,
        spec: GpuWorker,
        device_model: DeviceModel,
        workloads: Mapping[str, Workload],
        settings: Mapping[str, ModelSettings],
        rng: random.Random,
        return_hop_s: float = 0.0,
    ):
        self.spec = spec
        self.worker_id = spec.worker_id
        self.gpu = gpu(spec.gpu)
        self.device_model = device_model
        self.device: SharedDevice[str] = SharedDevice(self.gpu, device_model)
        self.workloads = workloads
        self.version = 0  # bumped whenever the device's next finish may have moved
        self._random = rng
        self.models: dict[str, _ModelState] = {}
        for name in spec.models:
            model = settings[name]
            cap = spec.batch_cap(name)
            if cap is not None:
                model = ModelSettings(model.slo_ms, max(1, min(cap, model.max_batch_size)), model.batching)
            profile = LatencyProfile(model.max_batch_size)
            profile.seed({size: self._run_alone(name, size) for size in seed_sizes(model.max_batch_size)})
            solo = SoloLatency()
            for _ in range(SEED_RUNS):
                solo.observe(self._run_alone(name, 1))
            batcher = make_batcher(model.batching, model.max_batch_size, model.slo_ms / 1e3)
            queue: ModelQueue[int] = ModelQueue(
                name,
                batcher,
                profile,
                model.slo_ms / 1e3,
                MAX_QUEUE,
                where=f" on worker {self.worker_id}",
                return_hop_s=return_hop_s,
            )
            self.models[name] = _ModelState(queue, solo)
        self._template = self._describe()

    def _run_alone(self, model: str, items: int) -> float:
        return self.device_model.solo_s(self.workloads[model], self.gpu, items) * self.device_model.jitter(
            self._random
        )

    def start_batch(self, model: str, batch: list[Queued[int]], now: float) -> None:
        state = self.models[model]
        items = sum(q.items for q in batch)
        work = self._run_alone(model, items)
        self.device.start(model, self.device_model.demand(self.workloads[model], self.gpu, items), work, now)
        state.queue.started(batch, now)
        state.running = _Running(batch, items, now)
        self.version += 1

    def next_finish(self) -> tuple[float, str] | None:
        return self.device.next_finish()

    def finish_batch(self, model: str, now: float) -> tuple[_Running, frozenset[str]]:
        """The model's running batch is done at `now`: the queue and solo latency learn from it.
        Returns it, with the models that ran beside it on the device."""
        state = self.models[model]
        co_runners = self.device.finish(model, now)
        running, state.running = state.running, None
        assert running is not None, f"no batch of {model} runs on {self.worker_id}"
        seconds = now - running.started
        state.queue.finished(running.items, seconds, now)
        state.busy_s += seconds
        if running.items == 1 and not co_runners:
            state.solo.observe(seconds)
        self.version += 1
        return running, co_runners

    def _describe(self) -> fleet_pb2.WorkerState:
        state = fleet_pb2.WorkerState(worker_id=self.worker_id, ready=True, address=f"sim:{self.worker_id}")
        state.device.CopyFrom(device_info(self.gpu))
        return state

    def state(self, interval_s: float) -> fleet_pb2.WorkerState:
        """The heartbeat: solo latencies and each model's busy fraction since the last one."""
        state = fleet_pb2.WorkerState()
        state.CopyFrom(self._template)
        for name, model in self.models.items():
            state.models.add(
                name=name,
                solo_latency_ms=model.solo.value * 1e3,
                max_batch_size=model.queue.profile.max_batch_size,
                full_batch_latency_ms=model.queue.profile.latency(model.queue.profile.max_batch_size) * 1e3,
            )
            state.load.add(
                model=name,
                busy_fraction=min(1.0, model.busy_s / interval_s) if interval_s > 0 else 0.0,
                queue_depth=len(model.queue),
                in_flight=model.queue.in_flight,
            )
            model.busy_s = 0.0
        return state
