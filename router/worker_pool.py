"""The router's connections to workers, and what it knows of each beyond the Redis view.

Requests and responses cross these channels as serialized bytes: the router never decodes a
tensor. By default they travel multiplexed over a few long-lived streams per worker
(`interfleet.multiplex`): on TCP connections to the worker's frames port where it offers one
(a fleet without TLS), else on gRPC streams (`HopSettings(transport="grpc")` always); a unary
call each with `HopSettings(streams=0)`. Each connection
keeps the round trip of a no-op call to its worker current, the hop a request pays on top of
queue and compute. What routing needs to know of each worker beyond that (requests in flight,
ejections) is the decision core's (`router.core`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import statistics
import time
from dataclasses import dataclass

import grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

from interfleet.errors import RemoteError
from interfleet.kserve.endpoint import MAX_MESSAGE_BYTES
from interfleet.kserve.service import method_path
from interfleet.kserve.status import domain_code
from interfleet.multiplex.client import WorkerStreams
from interfleet.multiplex.links import GrpcLink, Link, SocketLink
from router.fleet_view import FleetView

log = logging.getLogger(__name__)

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
SERVED_BY_PARAMETER = "worker_id"
PREDICTED_PARAMETER = "predicted_latency_ms"


def served_by_suffix(worker_id: str) -> bytes:
    """Serialized ModelInferResponse holding only parameters[worker_id].

    Protobuf merges concatenated messages (map entries by key), so appending these bytes to a
    worker's serialized response adds the parameter without decoding the response's tensors.
    """
    response = service_pb2.ModelInferResponse()
    response.parameters[SERVED_BY_PARAMETER].string_param = worker_id
    return response.SerializeToString()


def predicted_suffix(predicted_ms: float) -> bytes:
    """Serialized ModelInferResponse holding only parameters[predicted_latency_ms] (see above)."""
    response = service_pb2.ModelInferResponse()
    response.parameters[PREDICTED_PARAMETER].double_param = round(predicted_ms, 3)
    return response.SerializeToString()


@dataclass(frozen=True)
class HopSettings:
    """How requests travel to a worker: `streams` long-lived multiplexed streams per worker, at
    most `window` requests in flight on each, on `transport` ("socket": the worker's frames port
    when it offers one, else gRPC; "grpc": gRPC streams); `streams=0` makes a unary call per request."""

    streams: int = 2
    window: int = 512
    transport: str = "socket"


class WorkerConnection:
    def __init__(
        self,
        worker_id: str,
        address: str,
        device: str,
        hop: HopSettings,
        credentials: grpc.ChannelCredentials | None = None,
        tls_name: str | None = None,
        frames_address: str = "",
    ):
        self.worker_id = worker_id
        self.address = address
        self.frames_address = frames_address
        self.device = device
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        else:
            # Workers in Kubernetes advertise pod IPs no certificate lists: verify a fleet name instead.
            name = [("grpc.ssl_target_name_override", tls_name)] if tls_name else []
            self.channel = grpc.aio.secure_channel(address, credentials, options=[*CHANNEL_OPTIONS, *name])
        # A worker with TLS offers no frames port; a router with TLS to workers never dials one.
        on_socket = hop.transport == "socket" and bool(frames_address) and credentials is None
        self.transport = ("socket" if on_socket else "grpc") if hop.streams else "unary"
        self._streams = WorkerStreams(self._link, worker_id, hop.streams, hop.window) if hop.streams else None
        self._unary = self.channel.unary_unary(method_path("ModelInfer"))  # bytes in, bytes out
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)
        self.suffix = served_by_suffix(worker_id)
        self._round_trips: collections.deque[float] = collections.deque(maxlen=9)
        # Round trip of a call that does no work (median of recent probes); 0 before the first.
        # Kept up to date by `probe`, since every request's candidates read it.
        self.hop_ms = 0.0

    def _link(self) -> Link:
        """The link a new stream to this worker runs on."""
        if self.transport == "socket":
            return SocketLink(self.frames_address, MAX_MESSAGE_BYTES, on_unreachable=self._frames_unreachable)
        return GrpcLink(self.channel)

    def _frames_unreachable(self, reason: str) -> None:
        # A frames port the router cannot reach (a firewall that lets only the gRPC port through,
        # say): the requests on that stream fail over like a lost stream's, the next streams use gRPC.
        if self.transport == "socket":
            self.transport = "grpc"
            log.warning(
                "worker %s: frames port %s unreachable (%s); its requests go on gRPC streams",
                self.worker_id,
                self.frames_address,
                reason,
            )

    async def infer(self, request: bytes, timeout: float | None) -> bytes:
        """Serialized ModelInferRequest in, serialized ModelInferResponse out; a worker's error
        status comes back as a RemoteError carrying it."""
        if self._streams is not None:
            return await self._streams.infer(request, timeout)
        try:
            return await self._unary(request, timeout=timeout)
        except grpc.aio.AioRpcError as exc:
            raise RemoteError(domain_code(exc.code()), exc.details() or exc.code().name) from None

    async def probe(self, timeout: float) -> None:
        started = time.perf_counter()
        try:
            await self.stub.ServerLive(service_pb2.ServerLiveRequest(), timeout=timeout)
        except grpc.aio.AioRpcError:
            return  # a failing worker is found out by its requests and its heartbeat
        self._round_trips.append((time.perf_counter() - started) * 1e3)
        self.hop_ms = statistics.median(self._round_trips)

    async def close(self, grace: float | None) -> None:
        if self._streams is not None:
            if grace:
                await self._streams.drained(grace)
            await self._streams.close()
        try:
            await asyncio.wait_for(self.channel.close(grace), timeout=(grace or 0.0) + 1.0)
        except TimeoutError:
            log.warning("channel to worker %s did not close within %.1f s", self.worker_id, grace or 0.0)


class WorkerPool:
    def __init__(
        self,
        hop: HopSettings = HopSettings(),
        credentials: grpc.ChannelCredentials | None = None,
        tls_name: str | None = None,
    ):
        self._hop = hop
        self._credentials = credentials  # TLS to workers, when the router has a fleet CA
        self._tls_name = tls_name
        self._connections: dict[str, WorkerConnection] = {}
        self._closing: set[asyncio.Task] = set()

    def get(self, worker_id: str) -> WorkerConnection:
        return self._connections[worker_id]

    def hop_ms(self, worker_id: str) -> float:
        """The worker's measured no-op round trip; 0 before the first probe."""
        connection = self._connections.get(worker_id)
        return connection.hop_ms if connection is not None else 0.0

    def update(self, view: FleetView) -> None:
        """Adopt a new view: open channels to new workers, close those of departed ones."""
        for worker_id, state in view.workers.items():
            current = self._connections.get(worker_id)
            if current is None or (current.address, current.frames_address) != (
                state.address,
                state.frames_address,
            ):
                if current is not None:
                    self._close_later(current)
                connection = self._connections[worker_id] = WorkerConnection(
                    worker_id,
                    state.address,
                    state.device.name,
                    self._hop,
                    self._credentials,
                    self._tls_name,
                    state.frames_address,
                )
                log.info(
                    "worker %s joined at %s (%s; requests over %s)",
                    worker_id,
                    state.address,
                    state.device.name,
                    connection.transport,
                )
        for worker_id in [w for w in self._connections if w not in view.workers]:
            log.info("worker %s left the fleet", worker_id)
            self._close_later(self._connections.pop(worker_id))

    def _close_later(self, connection: WorkerConnection) -> None:
        # In-flight calls on a departing worker's channel finish (or fail and are retried).
        task = asyncio.ensure_future(connection.close(grace=30.0))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def probe(self, timeout: float = 0.5) -> None:
        """Time a no-op call to every worker: the hop a request pays on top of queue and compute."""
        await asyncio.gather(*(c.probe(timeout) for c in list(self._connections.values())))

    async def close(self, grace: float | None) -> None:
        await asyncio.gather(
            *(c.close(grace) for c in self._connections.values()), *self._closing, return_exceptions=True
        )
        self._connections.clear()
