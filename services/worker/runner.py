"""One hosted model's queue, its batcher and its execution thread.

Requests are validated before they are queued and wait in a bounded queue (`ModelQueue`, the
pure core the fleet simulator runs too). Whenever the model's execution thread is free, the
batcher (`services/worker/batching/`) decides from the queue and the model's latency profile
whether to run a batch now, how many requests it takes, or how long to wait for more. A batch
runs in the model's own thread, so models on one worker run concurrently, as co-located models
share a GPU: that is where interference comes from. The event loop never runs a model.

Deadlines and admission are the queue's (see `ModelQueue`): the client's deadline, from gRPC or
the `timeout` parameter, is a hard limit, the SLO one too when the model's `late` policy is
`reject`; a request that cannot make a hard limit is answered DEADLINE_EXCEEDED at once, a full
queue RESOURCE_EXHAUSTED. A request whose caller went away is dropped before it runs.

The batching loop runs under the worker's `Supervisor`: a bug in a pass answers the requests it
held INTERNAL and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from interfleet.errors import DeadlineExceeded, Internal, Unavailable
from interfleet.proto import fleet_pb2
from interfleet.supervision import SupervisedLoop, Supervisor
from services.worker.activity import DeviceActivity
from services.worker.batching import Batcher, LatencyProfile
from services.worker.batching.queue import ModelQueue, Queued
from services.worker.loaded_model import LoadedModel
from services.worker.stats import ModelStats
from services.worker.tensors import DecodedRequest, EncodedTensor

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    request: DecodedRequest
    enqueued_ns: int
    input_ns: int  # time spent decoding the request before it was queued
    future: asyncio.Future = field(repr=False)


def _signature(request: DecodedRequest) -> tuple:
    """Requests batch together only if all their non-batch axes and dtypes agree."""
    return tuple((name, a.dtype.str, a.shape[1:]) for name, a in sorted(request.feeds.items()))


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
        return_hop_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.model = model
        self.name = model.spec.name
        self.stats = ModelStats(model.spec.name, model.spec.version)
        self._queue: ModelQueue[_Pending] = ModelQueue(
            self.name,
            batcher,
            profile,
            model.spec.slo_ms / 1e3,
            max_queue,
            reject_late=late == "reject",
            where=f" on worker {worker_id}",
            return_hop_s=return_hop_s,
        )
        self._worker_id = worker_id
        self._device = device
        self._activity = activity
        self._on_batch = on_batch
        self._arrived = asyncio.Event()
        self._clock = clock
        self._wall_clock = wall_clock
        self._executor: ThreadPoolExecutor | None = None
        self._loop: SupervisedLoop | None = None
        self._running: list[Queued[_Pending]] = []  # the batch taken from the queue and not yet answered
        self._accepting = False

    @property
    def batcher(self) -> Batcher:
        return self._queue.batcher

    @batcher.setter
    def batcher(self, batcher: Batcher) -> None:
        self._queue.batcher = batcher

    @property
    def profile(self) -> LatencyProfile:
        return self._queue.profile

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def in_flight(self) -> int:
        return self._queue.in_flight

    async def start(self, supervisor: Supervisor | None = None) -> None:
        """Start the execution thread and the batching loop (under the worker's `supervisor`)."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"exec-{self.name}")
        self._loop = (supervisor or Supervisor()).loop(
            f"runner-{self.name}", self._serve_once, on_error=self._fail_running
        )
        self._accepting = True
        self.stats.serving_since(self._wall_clock())

    async def stop(self, grace: float) -> None:
        """Stop accepting, let queued work finish within `grace`, then fail what is left."""
        self._accepting = False
        deadline = self._clock() + grace
        while (self._queue or self.in_flight) and self._clock() < deadline:
            await asyncio.sleep(0.01)
        if self._loop is not None:
            await self._loop.stop()
        for queued in self._queue.drain():
            self._fail(queued, Unavailable(f"worker {self._worker_id} is shutting down"))
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
        pending = _Pending(
            request, time.perf_counter_ns(), input_ns, asyncio.get_running_loop().create_future()
        )
        self._queue.admit(
            pending,
            request.batch_size,
            self._clock(),
            math.inf if deadline is None else deadline,
            _signature(request),
        )
        self._arrived.set()
        return await pending.future

    @staticmethod
    def _fail(queued: Queued[_Pending], error: Exception) -> None:
        if not queued.payload.future.done():
            queued.payload.future.set_exception(error)

    def _fail_running(self, error: BaseException) -> None:
        """The batching loop hit a bug: the batch it held and the queue it was deciding on are
        answered INTERNAL (any of them may be what it trips on), never left hanging."""
        jobs = [*self._running, *self._queue.drain()]
        self._running = []
        self._queue.failed(self._clock())
        for job in jobs:
            self._fail(job, Internal(f"model '{self.name}' on worker {self._worker_id} failed: {error!r}"))

    async def _serve_once(self) -> None:
        """One pass of the batching loop: drop abandoned requests, then wait, or run one batch."""
        self._queue.discard(lambda queued: queued.payload.future.done())  # callers that went away
        if not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
            return
        now = self._clock()
        step = self._queue.step(now)
        for queued in step.refused:
            needed = self.profile.latency(queued.items)
            self._fail(
                queued,
                DeadlineExceeded(
                    f"model '{self.name}': deadline cannot be met ({(queued.hard_deadline - now) * 1e3:.1f} ms "
                    f"left, {needed * 1e3:.1f} ms needed); not run"
                ),
            )
        if not step.batch:
            # Either wait (for the time given, or the next arrival) or, when the decision only
            # re-marked late requests, decide again at once: those are runnable now.
            if step.wait_until is not None:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(
                        self._arrived.wait(),
                        max(0.0, step.wait_until - self._clock()) if math.isfinite(step.wait_until) else None,
                    )
                except TimeoutError:
                    pass
            return
        batch, items = step.batch, step.items
        self._queue.started(batch, now)
        self._running = batch
        try:
            execution = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._execute, [q.payload.request for q in batch]
            )
        except Exception as exc:  # noqa: BLE001 - the model failed on this batch; its callers hear why
            log.warning("model '%s' failed to run a batch of %d: %s", self.name, items, exc)
            self._queue.failed(self._clock())
            for queued in batch:
                self._fail(queued, exc)
            return
        for queued, outputs in zip(batch, execution.outputs):
            if not queued.payload.future.done():
                queued.payload.future.set_result((outputs, execution.started_ns - queued.payload.enqueued_ns))
        self._running = []
        self._record(batch, items, execution)

    def _execute(self, requests: list[DecodedRequest]) -> _Execution:
        started_wall = self._wall_clock()
        outputs_wanted = (
            requests[0].outputs if len(requests) == 1 else tuple(s.name for s in self.model.outputs)
        )
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
            per_request.append(
                self.model.encode(
                    request.outputs, [sliced[name] for name in request.outputs], request.class_counts
                )
            )
            offset = end
        return _Execution(
            per_request,
            started_ns,
            ran_ns - started_ns,
            time.perf_counter_ns() - ran_ns,
            co_runners,
            started_wall,
        )

    def _record(self, batch: list[Queued[_Pending]], items: int, execution: _Execution) -> None:
        infer_s = execution.infer_ns / 1e9
        self._queue.finished(items, infer_s, self._clock())
        input_ns = sum(q.payload.input_ns for q in batch)
        self.stats.record_batch(
            items, len(batch), self._wall_clock(), input_ns, execution.infer_ns, execution.output_ns
        )
        if items == 1 and not execution.co_runners:
            self.model.solo.observe(infer_s)
        oldest = min(q.payload.enqueued_ns for q in batch)
        self._on_batch(
            fleet_pb2.BatchRecord(
                worker_id=self._worker_id,
                model=self.name,
                batch_size=items,
                started_at=execution.started_wall,
                queue_ms=(execution.started_ns - oldest) / 1e6,
                compute_ms=execution.infer_ns / 1e6,
                co_runners=sorted(execution.co_runners),
                device=self._device,
            )
        )
