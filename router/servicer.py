"""The router's KServe v2 servicer. It only translates: proto (or bytes) in, a call on the
Dispatcher, proto (or bytes) out. ModelInfer and ModelStreamInfer take serialized requests so
the router forwards tensors without decoding them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from tritonclient.grpc import service_pb2

from interfleet.errors import Unavailable
from interfleet.kserve.byte_budget import ByteBudget
from interfleet.kserve.call import deadline_of, parse_infer_request, server_metadata
from interfleet.kserve.status import stream_error_message
from interfleet.kserve.streaming import serve_stream
from interfleet.multiplex.frames import varint
from router.dispatcher import Dispatcher
from router.repository import NO_PLANNER, FleetRepository

RAW_METHODS = ("ModelInfer", "ModelStreamInfer")

# ModelStreamInferResponse field 2 (infer_response), wire type 2 (length-delimited): tag byte 0x12.
_INFER_RESPONSE_TAG = b"\x12"


def stream_frame(raw_response: bytes) -> bytes:
    """A serialized ModelStreamInferResponse carrying `raw_response` as its infer_response.

    Built from bytes so the response's tensors are not decoded and re-encoded on the way.
    """
    return _INFER_RESPONSE_TAG + varint(len(raw_response)) + raw_response


class RouterServicer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        budget: ByteBudget | None = None,
        max_message_bytes: int = 0,
        repository: FleetRepository | None = None,
    ):
        self._dispatcher = dispatcher
        self._repository = repository
        self._budget = budget  # ModelInfer's is taken where the method is registered; streams', here
        self._max_message_bytes = max_message_bytes

    async def ServerLive(self, request, context):
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return service_pb2.ServerReadyResponse(ready=self._dispatcher.ready)

    async def ServerMetadata(self, request, context):
        return server_metadata("interfleet")

    async def ModelReady(self, request, context):
        return service_pb2.ModelReadyResponse(
            ready=self._dispatcher.model_ready(request.name, request.version)
        )

    async def ModelMetadata(self, request, context):
        return self._dispatcher.metadata(request.name, request.version)

    async def ModelConfig(self, request, context):
        return self._dispatcher.config(request.name, request.version)

    async def RepositoryIndex(self, request, context):
        return self._dispatcher.index()

    async def RepositoryModelLoad(self, request, context):
        if self._repository is None:
            raise Unavailable(NO_PLANNER)
        await self._repository.load(request.model_name, context.time_remaining())
        return service_pb2.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request, context):
        if self._repository is None:
            raise Unavailable(NO_PLANNER)
        await self._repository.unload(request.model_name, context.time_remaining())
        return service_pb2.RepositoryModelUnloadResponse()

    async def ModelStatistics(self, request, context):
        return await self._dispatcher.statistics(request.name, request.version, context.time_remaining())

    async def ModelInfer(self, raw: bytes, context) -> bytes:
        request = parse_infer_request(raw)
        return await self._dispatcher.infer(raw, request, deadline_of(context))

    async def ModelStreamInfer(self, raws: AsyncIterator[bytes], context) -> AsyncIterator[bytes]:
        deadline = deadline_of(context)

        async def one(raw: bytes) -> bytes:
            request = None
            try:
                request = parse_infer_request(raw)
                return stream_frame(await self._dispatcher.infer(raw, request, deadline))
            except Exception as exc:  # noqa: BLE001 - reported in-band, the stream goes on
                return service_pb2.ModelStreamInferResponse(
                    error_message=stream_error_message(exc),
                    infer_response=service_pb2.ModelInferResponse(
                        id=request.id if request else "", model_name=request.model_name if request else ""
                    ),
                ).SerializeToString()

        streamed = serve_stream(raws, one, budget=self._budget, read_bytes=self._max_message_bytes, size=len)
        async for frame in streamed:
            yield frame
