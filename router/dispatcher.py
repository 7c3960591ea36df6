"""The router's data plane: forwards each request where the decision core says, and answers itself.

Free of gRPC servers and of Redis: it asks the `RouterCore` for a worker, forwards the
serialized request over the pool's connection, and when the chosen worker is unreachable retries
on another (up to `max_attempts` workers) if the request's deadline still leaves that worker's
recent latency, saying otherwise why the request could not be saved. When the policy predicts
latency, the prediction goes back to the client beside the serving worker, the observed latency
goes back to the core (the policy and the interference detector learn from it) and to the error
metrics, and a sample of decisions is logged with every candidate's prediction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable

from tritonclient.grpc import service_pb2

from interfleet.errors import (
    Code,
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    Overloaded,
    ServingError,
    Unavailable,
)
from interfleet.kserve import model_metadata
from interfleet.kserve.call import request_deadline
from interfleet.kserve.message_size import request_cap
from interfleet.kserve.sequence_flags import SequenceFlags
from interfleet.kserve.status import code_of
from interfleet.proto import fleet_pb2
from router.core import RouterCore
from router.policies import Decision, NoWorkerMeetsDeadline
from router.sequences import SequenceAffinity
from router.statistics import merge_statistics
from router.stats import RouterStats
from router.worker_pool import WorkerPool, predicted_suffix

log = logging.getLogger(__name__)
decisions_log = logging.getLogger("router.decisions")

# A worker answering UNAVAILABLE is dead, unreachable or draining: the request never ran there.
_RETRYABLE = {Code.UNAVAILABLE}


class Dispatcher:
    def __init__(
        self,
        pool: WorkerPool,
        core: RouterCore,
        stats: RouterStats,
        max_in_flight: int,
        decision_log_sample: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sample: Callable[[], float] = random.random,
        default_timeout_s: float = 0.0,
        max_attempts: int = 3,
        sequence_idle_s: float = 600.0,
    ):
        self._pool = pool
        self._max_attempts = max_attempts
        self._core = core
        self._default_timeout_s = default_timeout_s  # a request never waits forever, whatever its client says
        self._decision_log_sample = decision_log_sample
        self._sample = sample
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self.started = 0  # inference requests begun, ever (a stopping endpoint waits for it to settle)
        self._stats = stats
        self._clock = clock
        # Every model any worker has hosted since start: one with no live worker now is
        # UNAVAILABLE (it exists, nothing serves it), not NOT_FOUND.
        self._catalogue: dict[str, fleet_pb2.HostedModel] = {}
        # Models workers were configured to host and could not load, with why (no worker serves them).
        self._unloadable: dict[str, str] = {}
        # Models on their way in or out of a worker (LOADING, UNLOADING), with where and why.
        self._transitions: dict[str, tuple[str, str]] = {}
        self.unloaded: set[str] = set()  # unloaded through the repository API (the index says so)
        self._sequences = SequenceAffinity(sequence_idle_s, clock)  # live sequences of stateful models
        self._request_caps: dict[str, int | None] = {}  # model -> the largest valid request, in bytes

    def on_view(self) -> None:
        for worker_id in self._sequences.workers() - set(self._core.view.workers):
            self._sequences.forget_worker(worker_id)
        unloadable = {}
        transitions = {}
        for state in self._core.view.workers.values():
            for model in state.models:
                self._request_caps[model.name] = request_cap(model)
                self._catalogue[model.name] = model
            for failed in state.unavailable:
                unloadable[failed.name] = f"worker {state.worker_id}: {failed.reason}"
            for moving in state.transitions:
                transitions[moving.name] = (moving.state, f"worker {state.worker_id}: {moving.reason}")
        self._transitions = transitions
        self._unloadable = {
            name: why for name, why in unloadable.items() if name not in self._core.view.by_model
        }

    @property
    def ready(self) -> bool:
        return bool(self._core.view.workers)

    def _model(self, name: str, version: str) -> fleet_pb2.HostedModel:
        model = self._catalogue.get(name)
        if model is None and name in self._unloadable:
            raise Unavailable(f"model '{name}' could not be loaded ({self._unloadable[name]})")
        if model is None:
            known = ", ".join(sorted(self._catalogue)) or "none yet"
            raise ModelNotFound(
                f"{model_metadata.unknown_model(name)}: not served by this fleet (models: {known})"
            )
        model_metadata.check_version(model, version)
        return model

    def check_model(self, name: str, version: str) -> None:
        """Raise ModelNotFound unless the fleet has served `name` (at `version`, if given)."""
        self._model(name, version)

    async def infer(
        self, raw: bytes, request: service_pb2.ModelInferRequest, deadline: float | None
    ) -> bytes:
        """Forward `raw` (the serialized request) and return the serialized response."""
        self.started += 1
        hosted = self._model(request.model_name, request.model_version)
        model = hosted.name
        stats = self._stats
        cap = self._request_caps.get(model)
        if cap is not None and len(raw) > cap:
            stats.failure[model, InvalidInput.code.name] += 1
            raise InvalidInput(
                f"a request of {len(raw)} bytes is larger than any valid request for model '{model}' "
                f"({cap} bytes at most, from its inputs' shapes and max_batch_size): not forwarded"
            )
        if self._in_flight >= self._max_in_flight:
            stats.failure[model, Overloaded.code.name] += 1
            raise Overloaded(f"router overloaded: {self._in_flight} requests in flight (max_in_flight)")
        deadline = request_deadline(request, deadline, self._clock())
        if deadline is None and self._default_timeout_s:
            deadline = self._clock() + self._default_timeout_s
        started = time.perf_counter()
        stats.pending[model] += 1
        self._in_flight += 1
        flags = SequenceFlags.of(request) if hosted.sequence else None
        try:
            if flags is None:
                response = await self._forward(model, raw, deadline)
            else:
                response = await self._forward_in_sequence(model, raw, deadline, flags)
        except Exception as exc:
            stats.failure[model, code_of(exc).name] += 1
            raise
        finally:
            stats.pending[model] -= 1
            self._in_flight -= 1
        stats.record_answer(model, time.perf_counter() - started, hosted.slo_ms)
        return response

    async def _forward(self, model: str, raw: bytes, deadline: float | None) -> bytes:
        tried: frozenset[str] = frozenset()
        while True:
            decision, now, timeout = self._decide(model, deadline, tried)
            if decision is None:
                after = f" after worker {', '.join(sorted(tried))} failed" if tried else ""
                raise Unavailable(f"no live worker for model '{model}'{after}")
            connection = self._pool.get(decision.worker.worker_id)
            self._stats.dispatched[model, connection.worker_id] += 1
            try:
                response = await connection.infer(raw, timeout) + connection.suffix
            except ServingError as exc:
                unreachable = exc.code in _RETRYABLE
                self._core.failed(decision, model, self._clock(), eject=unreachable)
                if not unreachable:
                    raise
                tried = tried | {connection.worker_id}
                self._retry_or_raise(model, connection.worker_id, exc, tried, deadline)
                self._stats.retries[model] += 1
                continue
            except BaseException:
                self._core.failed(decision, model, self._clock())
                raise
            observed_ms = (self._clock() - now) * 1e3
            self._core.answered(decision, model, observed_ms)
            if decision.predicted_ms is None:
                return response
            self._explain(model, decision, observed_ms)
            return response + predicted_suffix(decision.predicted_ms)

    def _decide(
        self, model: str, deadline: float | None, exclude: frozenset[str]
    ) -> tuple[Decision | None, float, float | None]:
        """The core's choice of worker (None: no live one), the time, and the seconds left."""
        now = self._clock()
        timeout = None if deadline is None else max(0.0, deadline - now)
        # The client's deadline is the hard limit; the model's SLO is a target (workers serve late
        # requests unless configured to reject them), so it does not make a request unmeetable.
        budget_ms = None if timeout is None else timeout * 1e3
        try:
            return self._core.route(model, budget_ms, now, exclude=exclude), now, timeout
        except NoWorkerMeetsDeadline as exc:
            raise DeadlineExceeded(str(exc)) from exc

    async def _forward_in_sequence(
        self, model: str, raw: bytes, deadline: float | None, flags: SequenceFlags
    ) -> bytes:
        """A stateful model's request: to the worker holding its sequence, or (a START) wherever the
        policy says, pinning the sequence there. Never retried elsewhere: the state is on that worker."""
        key = (model, flags.sequence_id)
        async with self._sequences.turn(key):
            return await self._forward_pinned(model, raw, deadline, flags, key)

    async def _forward_pinned(
        self, model: str, raw: bytes, deadline: float | None, flags: SequenceFlags, key: tuple
    ) -> bytes:
        pinned = None if flags.start else self._sequences.worker_of(key)
        if pinned is None:
            # A START, or a sequence this router has not seen (the worker will say if it holds it).
            exclude: frozenset[str] = frozenset()
        else:
            exclude = frozenset(self._core.view.by_model.get(model, ())) - {pinned}
        decision, now, timeout = self._decide(model, deadline, exclude)
        if decision is None:
            where = f"worker {pinned}, which holds it," if pinned else "no live worker"
            raise Unavailable(
                f"sequence {flags.sequence_id} of model '{model}': {where} is not available; its state is lost "
                "with it: start the sequence again (sequence_start)"
            )
        connection = self._pool.get(decision.worker.worker_id)
        self._stats.dispatched[model, connection.worker_id] += 1
        try:
            response = await connection.infer(raw, timeout) + connection.suffix
        except ServingError as exc:
            self._core.failed(decision, model, self._clock(), eject=exc.code in _RETRYABLE)
            raise
        except BaseException:
            self._core.failed(decision, model, self._clock())
            raise
        self._core.answered(decision, model, (self._clock() - now) * 1e3)
        self._sequences.answered(key, connection.worker_id, flags.end)
        return response

    def _retry_or_raise(
        self, model: str, worker_id: str, error: ServingError, tried: frozenset[str], deadline: float | None
    ) -> None:
        """After `worker_id` could not be reached: return to retry on another worker, or raise saying
        why the request cannot be saved (attempts used up, or too little of its deadline left for the
        fastest other host's recent latency plus its hop)."""
        failure = f"worker {worker_id} failed a {model} request ({error.code.name}: {error.message})"
        if len(tried) >= self._max_attempts:
            raise Unavailable(f"{failure}; {len(tried)} worker(s) tried (max_attempts), not retried")
        now = self._clock()
        needed_ms = self._core.fastest_ms(model, now, exclude=tried)
        if deadline is not None and needed_ms is not None and (deadline - now) * 1e3 < needed_ms:
            raise DeadlineExceeded(
                f"{failure}; {(deadline - now) * 1e3:.2f} ms of the deadline left, less than the "
                f"{needed_ms:.2f} ms the fastest other host takes: not retried"
            )
        log.warning("%s; retrying on another worker", failure)

    def _explain(self, model: str, decision: Decision, observed_ms: float) -> None:
        worker_id = decision.worker.worker_id
        self._stats.record_prediction(model, worker_id, decision.predicted_ms, observed_ms)
        if self._decision_log_sample and self._sample() < self._decision_log_sample:
            decisions_log.info(
                json.dumps(
                    {
                        "model": model,
                        "worker": worker_id,
                        "predicted_ms": round(decision.predicted_ms, 3),
                        "observed_ms": round(observed_ms, 3),
                        "candidates": {w: round(ms, 3) for w, ms in decision.predictions},
                    }
                )
            )

    def model_ready(self, name: str, version: str) -> bool:
        model = self._catalogue.get(name)
        if model is None or (version and version != model.version):
            return False
        return bool(self._core.candidates(name, self._clock()))

    def metadata(self, name: str, version: str) -> service_pb2.ModelMetadataResponse:
        return model_metadata.metadata_response(self._model(name, version))

    def config(self, name: str, version: str) -> service_pb2.ModelConfigResponse:
        return model_metadata.config_response(self._model(name, version))

    def index(self) -> service_pb2.RepositoryIndexResponse:
        response = service_pb2.RepositoryIndexResponse()
        for name in sorted({*self._catalogue, *self._unloadable, *self._transitions}):
            model = self._catalogue.get(name)
            ready = model is not None and bool(self._core.candidates(name, self._clock()))
            if ready:
                state, reason = "READY", ""
            elif name in self._transitions:
                state, reason = self._transitions[name]
            elif name in self._unloadable:
                state, reason = "UNAVAILABLE", f"could not be loaded ({self._unloadable[name]})"
            elif name in self.unloaded:
                state, reason = "UNAVAILABLE", "unloaded"
            else:
                state, reason = "UNAVAILABLE", "no live worker hosts it"
            response.models.add(name=name, version=model.version if model else "", state=state, reason=reason)
        return response

    async def statistics(
        self, name: str, version: str, timeout: float | None
    ) -> service_pb2.ModelStatisticsResponse:
        """Ask every worker hosting the model (all models when `name` is empty) and sum."""
        view = self._core.view
        if name:
            self._model(name, version)
            worker_ids = view.by_model.get(name, ())
        else:
            worker_ids = tuple(view.workers)
        request = service_pb2.ModelStatisticsRequest(name=name, version=version)
        replies = await asyncio.gather(
            *(self._pool.get(w).stub.ModelStatistics(request, timeout=timeout or 5.0) for w in worker_ids),
            return_exceptions=True,
        )
        parts = []
        for worker_id, reply in zip(worker_ids, replies):
            if isinstance(reply, BaseException):
                log.warning("statistics from worker %s unavailable: %s", worker_id, reply)
                continue
            parts.extend(reply.model_stats)
        return service_pb2.ModelStatisticsResponse(model_stats=merge_statistics(parts))
