"""The worker's data plane: the models it hosts and the answers to the KServe v2 calls.

Free of gRPC: the servicer hands it protos and deadlines and maps the errors it raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tritonclient.grpc import service_pb2

from interfleet.errors import ModelNotFound, ServingError, Unavailable
from interfleet.kserve import model_metadata
from interfleet.kserve.call import request_deadline
from interfleet.proto import fleet_pb2
from services.worker.runner import ModelRunner
from services.worker.sequences import Sequences
from services.worker.tensors import decode_request, encode_response


class Worker:
    def __init__(
        self,
        worker_id: str,
        runners: dict[str, ModelRunner],
        clock: Callable[[], float] = time.monotonic,
        unavailable: Sequence[fleet_pb2.UnavailableModel] = (),
    ):
        self.worker_id = worker_id
        self.runners = runners
        self._unavailable = {m.name: m for m in unavailable}  # configured, could not be loaded
        self._hosted: dict[str, fleet_pb2.HostedModel] = {}
        self._draining: dict[str, fleet_pb2.HostedModel] = {}  # unlisted, still answered
        # Unloaded at runtime: a request that still reaches the worker for one (a router whose
        # view is behind) is UNAVAILABLE, which routers retry on another worker, not NOT_FOUND.
        self._unloaded: set[str] = set()
        self._clock = clock
        self._sequences: dict[str, Sequences] = {}
        for name, runner in runners.items():
            self._host(name, runner)
        self.ready = False

    def _host(self, name: str, runner: ModelRunner) -> None:
        self.runners[name] = runner
        self._hosted[name] = runner.model.to_proto()
        self._unavailable.pop(name, None)
        if runner.model.spec.sequence is not None:
            self._sequences[name] = Sequences(name, runner.model.spec.sequence, self._clock)

    def add(self, name: str, runner: ModelRunner) -> None:
        """Serve a model loaded at runtime (its runner started): listed from the next heartbeat."""
        self._draining.pop(name, None)
        self._unloaded.discard(name)
        self._host(name, runner)

    def withdraw(self, name: str) -> None:
        """Stop listing a model (routers stop sending once they see a heartbeat without it) while
        still answering requests that reach it, until `remove`."""
        hosted = self._hosted.pop(name, None)
        if hosted is not None:
            self._draining[name] = hosted

    def remove(self, name: str) -> ModelRunner:
        """The model is gone: requests for it are UNAVAILABLE from now on. Returns its runner."""
        self._hosted.pop(name, None)
        self._draining.pop(name, None)
        self._sequences.pop(name, None)
        self._unloaded.add(name)
        return self.runners.pop(name)

    def hosts(self, name: str) -> bool:
        """Whether the model is listed (served and announced), not merely draining."""
        return name in self._hosted

    @property
    def hosted(self) -> list[fleet_pb2.HostedModel]:
        """The hosted models, with their solo latencies as refined by the runs so far."""
        for name, hosted in self._hosted.items():
            runner = self.runners[name]
            hosted.solo_latency_ms = runner.model.solo_latency_s * 1e3
            hosted.full_batch_latency_ms = runner.profile.latency(max(1, hosted.max_batch_size)) * 1e3
        return list(self._hosted.values())

    def _model(self, name: str, version: str) -> fleet_pb2.HostedModel:
        model = self._hosted.get(name) or self._draining.get(name)
        if model is None and name in self._unavailable:
            raise Unavailable(f"model '{name}' could not be loaded: {self._unavailable[name].reason}")
        if model is None and name in self._unloaded:
            raise Unavailable(f"model '{name}' was unloaded from worker {self.worker_id}")
        if model is None:
            raise ModelNotFound(
                f"{model_metadata.unknown_model(name)}: not hosted on worker {self.worker_id} "
                f"(hosted: {', '.join(sorted(self._hosted))})"
            )
        model_metadata.check_version(model, version)
        return model

    async def infer(
        self, request: service_pb2.ModelInferRequest, deadline: float | None
    ) -> service_pb2.ModelInferResponse:
        received_ns = time.perf_counter_ns()
        model = self._model(request.model_name, request.model_version)
        runner = self.runners[model.name]
        ok, queue_ns = False, 0
        try:
            deadline = request_deadline(request, deadline, self._clock())
            sequences = self._sequences.get(model.name)
            if sequences is None:
                decoded = self._decode(request, runner, model)
                outputs, queue_ns = await runner.infer(
                    decoded, deadline, time.perf_counter_ns() - received_ns
                )
            else:
                flags, sequence = sequences.begin(request)
                async with sequence.lock:  # a sequence's requests run one at a time, in order
                    decoded = sequences.feed(self._decode(request, runner, model), flags, sequence)
                    outputs, queue_ns = await runner.infer(
                        decoded, deadline, time.perf_counter_ns() - received_ns
                    )
                    outputs = sequences.keep_state(flags, sequence, outputs)
            ok = True
        except ServingError as exc:
            runner.stats.record_failure(exc.code.name)
            raise
        finally:
            runner.stats.record_request(ok, time.perf_counter_ns() - received_ns, queue_ns, time.time())
        return encode_response(request, model.version, outputs)

    @staticmethod
    def _decode(request: service_pb2.ModelInferRequest, runner: ModelRunner, model: fleet_pb2.HostedModel):
        loaded = runner.model
        return decode_request(request, loaded.client_inputs, loaded.client_outputs, model.max_batch_size)

    def model_ready(self, name: str, version: str) -> bool:
        model = self._hosted.get(name)
        return self.ready and model is not None and (not version or version == model.version)

    def metadata(self, name: str, version: str) -> service_pb2.ModelMetadataResponse:
        return model_metadata.metadata_response(self._model(name, version))

    def config(self, name: str, version: str) -> service_pb2.ModelConfigResponse:
        return model_metadata.config_response(self._model(name, version))

    def index(self) -> service_pb2.RepositoryIndexResponse:
        return model_metadata.index_response(self._hosted.values(), self.ready, self._unavailable.values())

    def statistics(self, name: str, version: str) -> service_pb2.ModelStatisticsResponse:
        names = [self._model(name, version).name] if name else sorted(self.runners)
        return service_pb2.ModelStatisticsResponse(
            model_stats=[self.runners[n].stats.to_proto() for n in names]
        )

    def load(self) -> list[fleet_pb2.ModelLoad]:
        now = time.time()
        loads = []
        for name, runner in self.runners.items():
            p50, p99, throughput, offered, busy = runner.stats.window(now)
            loads.append(
                fleet_pb2.ModelLoad(
                    model=name,
                    queue_depth=runner.queue_depth,
                    in_flight=runner.in_flight,
                    p50_latency_ms=p50,
                    p99_latency_ms=p99,
                    throughput_rps=throughput,
                    busy_fraction=busy,
                    offered_rps=offered,
                )
            )
        return loads
