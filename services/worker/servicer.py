"""The worker's gRPC servicers: KServe v2 inference and WorkerControl. They only translate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from tritonclient.grpc import service_pb2

from interfleet.kserve.call import deadline_of, parse_infer_request, server_metadata
from interfleet.kserve.status import maps_errors, stream_error_message
from interfleet.kserve.streaming import serve_stream
from interfleet.proto import fleet_pb2, fleet_pb2_grpc
from services.worker.worker import Worker

# Bytes in, bytes out: parsed here, so a message that does not parse is INVALID_ARGUMENT.
RAW_METHODS = ("ModelInfer", "ModelStreamInfer")


class InferenceServicer:
    def __init__(self, worker: Worker):
        self._worker = worker

    async def ServerLive(self, request, context):
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return service_pb2.ServerReadyResponse(ready=self._worker.ready)

    async def ServerMetadata(self, request, context):
        return server_metadata("interfleet-worker")

    async def ModelReady(self, request, context):
        return service_pb2.ModelReadyResponse(ready=self._worker.model_ready(request.name, request.version))

    async def ModelMetadata(self, request, context):
        return self._worker.metadata(request.name, request.version)

    async def ModelConfig(self, request, context):
        return self._worker.config(request.name, request.version)

    async def ModelStatistics(self, request, context):
        return self._worker.statistics(request.name, request.version)

    async def RepositoryIndex(self, request, context):
        return self._worker.index()

    async def ModelInfer(self, raw: bytes, context) -> bytes:
        response = await self._worker.infer(parse_infer_request(raw), deadline_of(context))
        return response.SerializeToString()

    async def ModelStreamInfer(self, raws: AsyncIterator[bytes], context) -> AsyncIterator[bytes]:
        deadline = deadline_of(context)

        async def one(raw: bytes) -> bytes:
            request = None
            try:
                request = parse_infer_request(raw)
                response = service_pb2.ModelStreamInferResponse(
                    infer_response=await self._worker.infer(request, deadline)
                )
            except Exception as exc:  # noqa: BLE001 - reported in-band, the stream goes on
                response = service_pb2.ModelStreamInferResponse(
                    error_message=stream_error_message(exc),
                    infer_response=service_pb2.ModelInferResponse(
                        id=request.id if request else "", model_name=request.model_name if request else ""
                    ),
                )
            return response.SerializeToString()

        async for response in serve_stream(raws, one):
            yield response


class WorkerControl(Protocol):
    """What WorkerControl calls into (the worker service)."""

    def state(self) -> fleet_pb2.WorkerState: ...
    async def load_model(self, name: str, max_batch_size: int = 0) -> fleet_pb2.WorkerState: ...
    async def unload_model(self, name: str, drain_s: float) -> fleet_pb2.WorkerState: ...


class WorkerControlServicer(fleet_pb2_grpc.WorkerControlServicer):
    def __init__(self, control: WorkerControl):
        self._control = control
        # Domain errors abort with their status (NOT_FOUND, UNAVAILABLE, ...), as on inference.
        self.LoadModel = maps_errors(self._load)
        self.UnloadModel = maps_errors(self._unload)

    async def GetState(self, request, context):
        return self._control.state()

    async def _load(self, request, context):
        return await self._control.load_model(request.name, request.max_batch_size)

    async def _unload(self, request, context):
        return await self._control.unload_model(request.name, request.drain_s)
