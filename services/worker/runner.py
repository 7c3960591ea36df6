"""One hosted model's queue, its batcher and its execution thread.

Requests are validated before they are queued and wait in a bounded queue. Whenever the model's
execution thread is free, the batcher (`services/worker/batching/`) decides from the queue and
the model's latency profile whether to run a batch now, how many requests it takes, or how
long to wait for more. A batch runs in the model's own thread, so models on one worker run
concurrently, as co-located models share a GPU: that is where interference comes from. The
event loop never runs a model.

Deadlines: batching aims every request at its arrival plus the model's SLO, or earlier if the
client says so (gRPC deadline, or the `timeout` parameter). The client's deadline is also a hard
limit: a request that cannot meet it (on admission, given the queue ahead and the profile, or
later, at a decision) is answered DEADLINE_EXCEEDED at once rather than after its time is gone.
The SLO is a hard limit too when the model's `late` policy is `reject`; with `serve` (the
default) a request that misses its SLO is still served, after those that can make theirs.

Admission: a full queue answers RESOURCE_EXHAUSTED at once; a request whose caller went away is
dropped before it runs.

The batching loop runs under the worker's `Supervisor`: a bug in a pass answers the requests it
held INTERNAL and the loop goes on.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from interfleet.errors import DeadlineExceeded, Internal, Overloaded, Unavailable
from interfleet.proto import fleet_pb2
from interfleet.services.worker.activity import DeviceActivity
from interfleet.services.worker.batching import Batcher, LatencyProfile, QueueView
from interfleet.services.worker.batching.arrival_rate import ArrivalRate
from interfleet.services.worker.loaded_model import LoadedModel
from interfleet.services.worker.stats import ModelStats
from interfleet.services.worker.tensors import DecodedRequest, EncodedTensor
from interfleet.supervision import SupervisedLoop, Supervisor

log = logging.getLogger(__name__)


@dataclass
class _Job:
    request: DecodedRequest
    arrival: float                      # monotonic seconds
    deadline: float                     # what batching aims at: min(SLO, client deadline); inf once late
    hard_deadline: float                # past it the request is refused, not served; inf if never
    enqueued_ns: int
    input_ns: int                       # time spent decoding the request before it was queued
    future: asyncio.Future = field(repr=False)

    @property
    def signature(self) -> tuple:
        """Requests batch together only if all their non-batch axes and dtypes agree."""
        return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(self.request.feeds.items()))


@dataclass(frozen=True)
class _Execution:
    outputs: list[list[EncodedTensor]]  # per job
    started_ns: int
    infer_ns: int
    output_ns: int
    co_runners: frozenset[str]
    started_wall: float


class ModelRunner:
    def __init__(
        self,
        model: LoadedModel,
        worker_id: str,
        device: str,
        activity: DeviceActivity,
        on_batch: Callable[[fleet_pb2.BatchRecord], None],
        max_queue: int,
        batcher: Batcher,
        profile: LatencyProfile,
        late: str = "serve",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.model = model
        self.name = model.spec.name
        self.stats = ModelStats(model.spec.name, model.spec.version)
        self.batcher = batcher
        self.profile = profile
        self._slo_s = model.spec.slo_ms / 1e3
        self._reject_late = late == "reject"
        self._worker_id = worker_id
        self._device = device
        self._activity = activity
        self._on_batch = on_batch
        self._max_queue = max_queue
        self._queue: collections.deque[_Job] = collections.deque()
        self._arrived = asyncio.Event()
        self._clock = clock
        self._wall_clock = wall_clock
        self._executor: ThreadPoolExecutor | None = None
        self._loop: SupervisedLoop | None = None
        self._running: list[_Job] = []     # the batch taken from the queue and not yet answered
        self._accepting = False
        self._busy_until = 0.0           # predicted end of the running batch
        self._arrivals = ArrivalRate()
        self.in_flight = 0

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Start the execution thread and the batching loop (under the worker's `supervisor`)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"exec-{self.name}")
        self._loop = (supervisor or Supervisor()).loop(f"runner-{self.name}", self._serve_once,
                                                       on_error=self._fail_running)
        self._accepting = True

    async def stop(self, grace: float) -> None:
        """Stop accepting, let queued work finish within `grace`, then fail what is left."""
        self._accepting = False
        deadline = self._clock() + grace
        while (self._queue or self.in_flight) and self._clock() < deadline:
            await asyncio.sleep(0.01)
        if self._loop is not None:
            await self._loop.stop()
        while self._queue:
            self._fail(self._queue.popleft(), Unavailable(f"worker {self._worker_id} is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def infer(
        self, request: DecodedRequest, deadline: float | None, input_ns: int = 0
    ) -> tuple[list[EncodedTensor], int]:
        """Queue `request` and wait for its outputs; returns (outputs, queue nanoseconds).

        `deadline` is the client's (monotonic seconds), if it gave one.
        """
        if not self._accepting:
            raise Unavailable(f"worker {self._worker_id} is not accepting requests for '{self.name}'")
        if len(self._queue) >= self._max_queue:
            raise Overloaded(f"model '{self.name}' on worker {self._worker_id}: queue full "
                             f"({self._max_queue} waiting)")
        now = self._clock()
        slo_deadline = now + self._slo_s
        client_deadline = math.inf if deadline is None else deadline
        hard_deadline = min(client_deadline, slo_deadline) if self._reject_late else client_deadline
        predicted = self._predicted_finish(now, request.batch_size)
        if predicted > hard_deadline:
            raise DeadlineExceeded(
                f"model '{self.name}' on worker {self._worker_id}: cannot meet the deadline "
                f"({(hard_deadline - now) * 1e3:.1f} ms left, {(predicted - now) * 1e3:.1f} ms predicted with "
                f"{len(self._queue)} queued); rejected at once")
        job = _Job(request, now, min(client_deadline, slo_deadline), hard_deadline, time.perf_counter_ns(),
                   input_ns, asyncio.get_running_loop().create_future())
        self._arrivals.note(now)
        self._queue.append(job)
        self._arrived.set()
        self.in_flight += 1
        try:
            return await job.future
        finally:
            self.in_flight -= 1

    def _predicted_finish(self, now: float, items: int) -> float:
        """When a new request of `items` would finish, given the running batch and the queue ahead."""
        width = max(1, self.batcher.effective_batch_size)
        ahead = sum(job.request.batch_size for job in self._queue) + items
        batches = math.ceil(ahead / width)
        return max(now, self._busy_until) + batches * self.profile.latency(min(ahead, width))

    def _fail(self, job: _Job, error: Exception) -> None:
        if not job.future.done():
            job.future.set_exception(error)

    def _fail_running(self, error: BaseException) -> None:
        """The batching loop hit a bug: the batch it held and the queue it was deciding on are
        answered INTERNAL (any of them may be what it trips on), never left hanging."""
        jobs = [*self._running, *self._queue]
        self._running, self._queue = [], collections.deque()
        for job in jobs:
            self._fail(job, Internal(f"model '{self.name}' on worker {self._worker_id} failed: {error!r}"))

    async def _serve_once(self) -> None:
        """One pass of the batching loop: drop abandoned requests, then wait, or run one batch."""
        while self._queue and self._queue[0].future.done():   # callers that went away
            self._queue.popleft()
        if not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
            return
        now = self._clock()
        live = []
        for job in self._queue:
            needed = self.profile.latency(job.request.batch_size)
            if now + needed > job.hard_deadline:   # whatever the policy: never run a request too late
                self._fail(job, DeadlineExceeded(
                    f"model '{self.name}': deadline cannot be met ({(job.hard_deadline - now) * 1e3:.1f} ms "
                    f"left, {needed * 1e3:.1f} ms needed); not run"))
            elif not job.future.done():
                live.append(job)
        if not live:
            self._queue.clear()
            return
        view = QueueView(now, [j.arrival for j in live], [j.deadline for j in live],
                         [j.request.batch_size for j in live], self._arrivals.per_second(now))
        decision = self.batcher.decide(view, self.profile)
        for index in decision.expired:
            live[index].deadline = math.inf   # misses its SLO: served late, after those that can make it
        live = [job for job in live if not job.future.done()]
        self._queue = collections.deque(live)
        if not decision.take:
            # Either wait (for the time given, or the next arrival) or, when the decision only
            # re-marked late requests, decide again at once: those are runnable now.
            if decision.wait_until is not None:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), max(0.0, decision.wait_until - self._clock()))
                except TimeoutError:
                    pass
            return
        batch = self._compatible_prefix(live[:decision.take])
        for _ in batch:
            self._queue.popleft()
        items = sum(job.request.batch_size for job in batch)
        self._busy_until = now + self.profile.latency(items)
        self._running = batch
        try:
            execution = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._execute, [j.request for j in batch])
        except Exception as exc:  # noqa: BLE001 - the model failed on this batch; its callers hear why
            log.warning("model '%s' failed to run a batch of %d: %s", self.name, items, exc)
            for job in batch:
                self._fail(job, exc)
            return
        finally:
            self._busy_until = self._clock()
        for job, outputs in zip(batch, execution.outputs):
            if not job.future.done():
                job.future.set_result((outputs, execution.started_ns - job.enqueued_ns))
        self._running = []
        self._record(batch, items, execution)

    @staticmethod
    def _compatible_prefix(jobs: list[_Job]) -> list[_Job]:
        head = jobs[0].signature
        batch = []
        for job in jobs:
            if job.signature != head:
                break
            batch.append(job)
        return batch

    def _execute(self, requests: list[DecodedRequest]) -> _Execution:
        started_wall = self._wall_clock()
        outputs_wanted = requests[0].outputs if len(requests) == 1 else tuple(s.name for s in self.model.outputs)
        if len(requests) == 1:
            feeds = requests[0].feeds
        else:
            feeds = {name: np.concatenate([r.feeds[name] for r in requests]) for name in requests[0].feeds}
        started_ns = time.perf_counter_ns()
        token = self._activity.begin(self.name)
        try:
            arrays = self.model.session.run(list(outputs_wanted), feeds)
        finally:
            co_runners = self._activity.end(token)
        ran_ns = time.perf_counter_ns()
        per_request, offset = [], 0
        for request in requests:
            end = offset + request.batch_size
            sliced = {name: array[offset:end] for name, array in zip(outputs_wanted, arrays)}
            per_request.append(self.model.encode(request.outputs, [sliced[name] for name in request.outputs]))
            offset = end
        return _Execution(per_request, started_ns, ran_ns - started_ns, time.perf_counter_ns() - ran_ns,
                          co_runners, started_wall)

    def _record(self, batch: list[_Job], items: int, execution: _Execution) -> None:
        infer_s = execution.infer_ns / 1e9
        self.profile.observe(items, infer_s, self._clock())
        self.batcher.observe(items, infer_s)
        input_ns = sum(job.input_ns for job in batch)
        self.stats.record_batch(items, len(batch), self._wall_clock(), input_ns, execution.infer_ns,
                                execution.output_ns)
        if items == 1 and not execution.co_runners:
            self.model.solo.observe(infer_s)
        oldest = min(job.enqueued_ns for job in batch)
        self._on_batch(fleet_pb2.BatchRecord(
            worker_id=self._worker_id, model=self.name, batch_size=items, started_at=execution.started_wall,
            queue_ms=(execution.started_ns - oldest) / 1e6, compute_ms=execution.infer_ns / 1e6,
            co_runners=sorted(execution.co_runners), device=self._device,
        ))
