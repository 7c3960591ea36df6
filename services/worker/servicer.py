"""The worker's gRPC servicers: KServe v2 inference and WorkerControl. They only translate."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from tritonclient.grpc import service_pb2

from interfleet.kserve.call import deadline_of, server_metadata
from interfleet.kserve.status import stream_error_message
from interfleet.kserve.streaming import serve_stream
from interfleet.proto import fleet_pb2, fleet_pb2_grpc
from interfleet.services.worker.worker import Worker


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

    async def ModelInfer(self, request, context):
        return await self._worker.infer(request, deadline_of(context))

    async def ModelStreamInfer(
        self, requests: AsyncIterator[service_pb2.ModelInferRequest], context
    ) -> AsyncIterator[service_pb2.ModelStreamInferResponse]:
        deadline = deadline_of(context)

        async def one(request: service_pb2.ModelInferRequest) -> service_pb2.ModelStreamInferResponse:
            try:
                return service_pb2.ModelStreamInferResponse(infer_response=await self._worker.infer(request, deadline))
            except Exception as exc:  # noqa: BLE001 - reported in-band, the stream goes on
                return service_pb2.ModelStreamInferResponse(
                    error_message=stream_error_message(exc),
                    infer_response=service_pb2.ModelInferResponse(id=request.id, model_name=request.model_name),
                )

        async for response in serve_stream(requests, one):
            yield response


class WorkerControlServicer(fleet_pb2_grpc.WorkerControlServicer):
    def __init__(self, state: Callable[[], fleet_pb2.WorkerState]):
        self._state = state

    async def GetState(self, request, context):
        return self._state()
