"""The router's line to the planner service, for Triton's repository API (`RepositoryModelLoad`,
`RepositoryModelUnload`): the planner, not the router, decides where a model goes."""

from __future__ import annotations

import grpc

from interfleet.errors import RemoteError
from interfleet.kserve.status import domain_code
from interfleet.proto import fleet_pb2, fleet_pb2_grpc


class PlannerClient:
    def __init__(
        self, address: str, credentials: grpc.ChannelCredentials | None = None, timeout_s: float = 300.0
    ):
        """`credentials`: dial over TLS (the fleet's CA, and the router's identity: the planner
        admits routers only to move models)."""
        self.address = address
        self._timeout_s = timeout_s  # a load warms up every batch size: it can take a while
        self._channel = (
            grpc.aio.secure_channel(address, credentials)
            if credentials
            else grpc.aio.insecure_channel(address)
        )
        self._stub = fleet_pb2_grpc.PlannerControlStub(self._channel)

    async def place(self, model: str, timeout: float | None = None) -> list[str]:
        reply = await self._call(self._stub.Place, fleet_pb2.PlaceRequest(model=model), timeout)
        return list(reply.workers)

    async def remove(self, model: str, timeout: float | None = None) -> list[str]:
        reply = await self._call(self._stub.Remove, fleet_pb2.RemoveRequest(model=model), timeout)
        return list(reply.workers)

    async def _call(self, method, request, timeout: float | None):
        try:
            return await method(request, timeout=timeout or self._timeout_s)
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or exc.code().name
            raise RemoteError(domain_code(exc.code()), f"planner at {self.address}: {details}") from None

    async def close(self) -> None:
        await self._channel.close()
