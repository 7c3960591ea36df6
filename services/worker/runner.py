"""One hosted model's queue and execution thread.

Requests are validated before they are queued, wait in a bounded queue, and run one execution
at a time in the model's own thread. Models on one worker therefore run concurrently, as
co-located models share a GPU, and that is where interference comes from. The event loop
never runs a model.

Admission: a full queue answers RESOURCE_EXHAUSTED at once; a request whose deadline passes
while queued is answered DEADLINE_EXCEEDED without being run; a request whose caller went
away is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from interfleet.errors import DeadlineExceeded, Overloaded, Unavailable
from interfleet.proto import fleet_pb2
from interfleet.services.worker.activity import DeviceActivity
from interfleet.services.worker.loaded_model import LoadedModel
from interfleet.services.worker.stats import ModelStats
from interfleet.services.worker.tensors import DecodedRequest, EncodedTensor

log = logging.getLogger(__name__)


@dataclass
class _Job:
    request: DecodedRequest
    deadline: float | None              # monotonic seconds
    enqueued_ns: int
    input_ns: int                       # time spent decoding the request before it was queued
    future: asyncio.Future = field(repr=False)


@dataclass(frozen=True)
class _Execution:
    outputs: list[EncodedTensor]
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
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.model = model
        self.name = model.spec.name
        self.stats = ModelStats(model.spec.name, model.spec.version)
        self._worker_id = worker_id
        self._device = device
        self._activity = activity
        self._on_batch = on_batch
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=max_queue)
        self._clock = clock
        self._wall_clock = wall_clock
        self._executor: ThreadPoolExecutor | None = None
        self._loop_task: asyncio.Task | None = None
        self._accepting = False
        self.in_flight = 0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"exec-{self.name}")
        self._loop_task = asyncio.create_task(self._serve(), name=f"runner-{self.name}")
        self._accepting = True

    async def stop(self, grace: float) -> None:
        """Stop accepting, let queued work finish within `grace`, then fail what is left."""
        self._accepting = False
        deadline = self._clock() + grace
        while (self._queue.qsize() or self.in_flight) and self._clock() < deadline:
            await asyncio.sleep(0.01)
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(Unavailable(f"worker {self._worker_id} is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def infer(
        self, request: DecodedRequest, deadline: float | None, input_ns: int = 0
    ) -> tuple[list[EncodedTensor], int]:
        """Queue `request` and wait for its outputs; returns (outputs, queue nanoseconds)."""
        if not self._accepting:
            raise Unavailable(f"worker {self._worker_id} is not accepting requests for '{self.name}'")
        job = _Job(request, deadline, time.perf_counter_ns(), input_ns, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise Overloaded(f"model '{self.name}' on worker {self._worker_id}: queue full "
                             f"({self._queue.maxsize} waiting)") from None
        self.in_flight += 1
        try:
            return await job.future
        finally:
            self.in_flight -= 1

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            if job.future.done():          # the caller went away (cancelled) while queued
                continue
            if job.deadline is not None and self._clock() >= job.deadline:
                job.future.set_exception(DeadlineExceeded(
                    f"model '{self.name}': deadline passed after {(time.perf_counter_ns() - job.enqueued_ns) / 1e6:.1f} "
                    "ms in the queue; not run"))
                continue
            try:
                execution = await loop.run_in_executor(self._executor, self._execute, job.request)
            except Exception as exc:  # noqa: BLE001 - the model failed on this input; the caller hears why
                log.warning("model '%s' failed to run: %s", self.name, exc)
                if not job.future.done():
                    job.future.set_exception(exc)
                continue
            self._record(job, execution)
            if not job.future.done():
                job.future.set_result((execution.outputs, execution.started_ns - job.enqueued_ns))

    def _execute(self, request: DecodedRequest) -> _Execution:
        started_wall = self._wall_clock()
        started_ns = time.perf_counter_ns()
        token = self._activity.begin(self.name)
        try:
            arrays = self.model.session.run(list(request.outputs), request.feeds)
        finally:
            co_runners = self._activity.end(token)
        ran_ns = time.perf_counter_ns()
        outputs = self.model.encode(request.outputs, arrays)
        return _Execution(outputs, started_ns, ran_ns - started_ns, time.perf_counter_ns() - ran_ns,
                          co_runners, started_wall)

    def _record(self, job: _Job, execution: _Execution) -> None:
        batch = job.request.batch_size
        self.stats.record_batch(batch, 1, self._wall_clock(), job.input_ns, execution.infer_ns, execution.output_ns)
        self._on_batch(fleet_pb2.BatchRecord(
            worker_id=self._worker_id, model=self.name, batch_size=batch, started_at=execution.started_wall,
            queue_ms=(execution.started_ns - job.enqueued_ns) / 1e6, compute_ms=execution.infer_ns / 1e6,
            co_runners=sorted(execution.co_runners), device=self._device,
        ))
