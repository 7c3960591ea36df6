"""The simulator's event loop: a heap of timed events over the fleet's own decision code.

Events, in time order (ties in the order they were scheduled):

- arrival: the router core routes the request (the policy may refuse it as unmeetable), and
  the chosen worker's queue admits it (or refuses it: full, or its deadline cannot be met);
  an idle model is asked to decide at once;
- step: a model's execution slot is free; its queue decides to run a batch on the device, or
  when to decide again (an arrival before then decides at once, as it wakes the live worker);
- finish: the first batch on a device is done (the device model's rates change whenever a batch
  starts or ends, so the time is recomputed then, and stale finish events are skipped);
- heartbeat: every worker reports its solo latencies and loads, and the router core adopts the
  new view, as it would from Redis.

Every request carries a deadline of its SLO; the answer reaches the router `hop_ms` after the
batch ends (the network and the router's own work, one constant). Results are per request:
`Outcomes` (`outcomes.py`).
"""

from __future__ import annotations

import heapq
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from emulation.device_model import DeviceModel
from emulation.workload import Workload
from interfleet.errors import ServingError
from interfleet.proto import fleet_pb2
from loadgen.schedule import Schedule
from router.core import RouterCore
from router.fleet_view import FleetView
from router.policies import Decision, NoWorkerMeetsDeadline, RoutingPolicy
from simulation.fleet_spec import GpuWorker
from simulation.outcomes import ANSWERED, REFUSED_AT_ROUTER, REFUSED_AT_WORKER, Outcomes
from simulation.worker import ModelSettings, SimWorker

_ARRIVAL, _STEP, _FINISH, _HEARTBEAT = 0, 1, 2, 3


class Simulation:
    def __init__(
        self,
        fleet: Sequence[GpuWorker],
        policy: RoutingPolicy,
        device_model: DeviceModel,
        workloads: Mapping[str, Workload],
        settings: Mapping[str, ModelSettings],
        seed: int = 0,
        heartbeat_s: float = 0.5,
        hop_ms: float = 0.1,
        max_candidates: int = 0,
    ):
        rng = random.Random(seed)
        self.workers = {
            # Workers batch knowing the hop, as live ones do (`return_hop_ms`).
            w.worker_id: SimWorker(
                w, device_model, workloads, settings, random.Random(rng.random()), return_hop_s=hop_ms / 1e3
            )
            for w in fleet
        }
        self.core = RouterCore(
            policy, max_candidates=max_candidates, seed=seed, hop_ms=lambda worker_id: hop_ms
        )
        self._heartbeat_s = heartbeat_s
        self._hop_s = hop_ms / 1e3
        self._heap: list[tuple] = []
        self._sequence = 0
        self._decisions: dict[int, Decision] = {}
        self.events = 0
        self.wall_s = 0.0
        # Each finished batch as the worker would publish it, for a predictor to learn from.
        self.on_batch: Callable[[fleet_pb2.BatchRecord], None] | None = None
        # Each heartbeat's worker states, as the predictor service reads them from Redis.
        self.on_states: Callable[[list[fleet_pb2.WorkerState]], None] | None = None

    def _push(self, at: float, kind: int, *payload) -> None:
        self._sequence += 1
        heapq.heappush(self._heap, (at, self._sequence, kind, payload))

    def _heartbeat(self, interval_s: float) -> None:
        states = [w.state(interval_s) for w in self.workers.values()]
        if self.on_states is not None:
            self.on_states(states)
        self.core.update(FleetView.of(states))

    def run(self, schedule: Schedule) -> Outcomes:
        started = time.perf_counter()
        n = len(schedule)
        out = Outcomes(schedule, np.full(n, -1, dtype=np.int8), np.full(n, np.nan), [""] * n)
        self._heartbeat(self._heartbeat_s)
        if n:
            self._push(float(schedule.times[0]), _ARRIVAL, 0)
        self._push(self._heartbeat_s, _HEARTBEAT)
        models = schedule.models
        end = float(schedule.times[-1]) if n else 0.0
        heap = self._heap
        while heap:
            now, _, kind, payload = heapq.heappop(heap)
            self.events += 1
            if kind == _ARRIVAL:
                index = payload[0]
                if index + 1 < n:
                    self._push(float(schedule.times[index + 1]), _ARRIVAL, index + 1)
                self._arrive(
                    index, models[schedule.model_index[index]], float(schedule.slo_ms[index]), now, out
                )
            elif kind == _STEP:
                worker_id, model, token = payload
                state = self.workers[worker_id].models[model]
                if token == state.step_token and state.running is None:
                    self._step(self.workers[worker_id], model, now, out)
            elif kind == _FINISH:
                worker_id, version = payload
                worker = self.workers[worker_id]
                if version == worker.version:
                    self._finish(worker, now, out)
            elif now <= end:
                self._heartbeat(self._heartbeat_s)
                self._push(now + self._heartbeat_s, _HEARTBEAT)
        self.wall_s = time.perf_counter() - started
        return out

    def _arrive(self, index: int, model: str, slo_ms: float, now: float, out: Outcomes) -> None:
        try:
            decision = self.core.route(model, slo_ms, now)
        except NoWorkerMeetsDeadline:
            out.record(index, REFUSED_AT_ROUTER, now, "")
            return
        if decision is None:
            out.record(index, REFUSED_AT_ROUTER, now, "")
            return
        worker = self.workers[decision.worker.worker_id]
        state = worker.models[model]
        try:
            state.queue.admit(index, 1, now, client_deadline=now + slo_ms / 1e3)
        except ServingError:
            self.core.failed(decision, model, now)
            out.record(index, REFUSED_AT_WORKER, now, worker.worker_id)
            return
        self._decisions[index] = decision
        if state.running is None:
            self._schedule_step(worker, model, now)

    def _schedule_step(self, worker: SimWorker, model: str, at: float) -> None:
        state = worker.models[model]
        state.step_token += 1
        self._push(at, _STEP, worker.worker_id, model, state.step_token)

    def _step(self, worker: SimWorker, model: str, now: float, out: Outcomes) -> None:
        queue = worker.models[model].queue
        if not len(queue):
            return
        step = queue.step(now)
        for queued in step.refused:
            self._answer(queued.payload, model, REFUSED_AT_WORKER, now, worker.worker_id, out)
        if step.batch:
            worker.start_batch(model, step.batch, now)
            self._schedule_finish(worker)
        elif step.wait_until is None:
            self._schedule_step(worker, model, now)
        elif math.isfinite(step.wait_until):
            self._schedule_step(worker, model, max(now, step.wait_until))

    def _schedule_finish(self, worker: SimWorker) -> None:
        upcoming = worker.next_finish()
        if upcoming is not None:
            self._push(upcoming[0], _FINISH, worker.worker_id, worker.version)

    def _finish(self, worker: SimWorker, now: float, out: Outcomes) -> None:
        upcoming = worker.next_finish()
        assert upcoming is not None, "a finish event for a device with nothing running"
        _, model = upcoming
        running, co_runners = worker.finish_batch(model, now)
        if self.on_batch is not None:
            self.on_batch(
                fleet_pb2.BatchRecord(
                    worker_id=worker.worker_id,
                    model=model,
                    batch_size=running.items,
                    started_at=running.started,
                    compute_ms=(now - running.started) * 1e3,
                    co_runners=sorted(co_runners),
                    device=f"emulated:{worker.gpu.name}",
                )
            )
        for queued in running.batch:
            self._answer(queued.payload, model, ANSWERED, now + self._hop_s, worker.worker_id, out)
        if len(worker.models[model].queue):
            self._schedule_step(worker, model, now)
        self._schedule_finish(worker)

    def _answer(self, index: int, model: str, outcome: int, at: float, worker_id: str, out: Outcomes) -> None:
        decision = self._decisions.pop(index)
        if outcome == ANSWERED:
            self.core.answered(decision, model, (at - out.schedule.times[index]) * 1e3)
        else:
            self.core.failed(decision, model, at)
        out.record(index, outcome, at, worker_id)
