"""A grpc.aio server with the standard health and reflection services, started and stopped explicitly.

Both the router and the workers serve through this, over TLS when given server credentials,
behind any interceptors given (token authentication), with received messages capped at
`max_message_bytes` (the router derives it from the largest request its models accept), and
at most `max_concurrent_calls` calls at once: gRPC refuses the next one `RESOURCE_EXHAUSTED`
before any handler runs, so an overload is turned away where it queues, in a few hundred
microseconds, instead of waiting behind the calls admitted.
`stop` flips health to NOT_SERVING first, waits `drain_s` so load balancers that check health
send elsewhere, then lets the application pick up the calls gRPC-core already holds (`settle`),
then stops accepting calls (clients get GOAWAY and go to another server) and lets those in flight
finish within `grace`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from interfleet.errors import ConfigError

log = logging.getLogger(__name__)

# Large tensors travel in one message; gRPC's 4 MiB default would cap a batch of images. This is
# the ceiling; the router sets a lower cap from its models (`interfleet.kserve.message_size`).
# Workers keep it: a router's multiplexed message carries many requests at once.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
# gRPC-core CANCELs calls that arrive while more than `max_pending_requests` (default 1000,
# hard limit 3000) wait for the application to pick them up, and the Python aio server picks
# them up one at a time: a burst would lose requests with a status that names no cause and that
# no metric counts. Admission is the application's job instead; its bounded queues answer
# RESOURCE_EXHAUSTED, saying why.
MAX_PENDING_CALLS = 20_000
# A call gRPC-core has received but the Python server has not yet picked up is CANCELLED by the
# shutdown, though its client sent it before the stop. So `stop` first waits until no new call
# has been picked up for SETTLE_QUIET_S (at most SETTLE_MAX_S): the calls already sent get in.
SETTLE_QUIET_S = 0.05
SETTLE_MAX_S = 2.0


def server_options(
    max_message_bytes: int = MAX_MESSAGE_BYTES, reuse_port: bool = False
) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # Off unless several processes are meant to share the port: a port in use is an error.
        ("grpc.so_reuseport", int(reuse_port)),
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
        # No bandwidth-delay probing: it grows each stream's flow-control window to megabytes, so
        # gRPC-core would take in bodies of calls the application has not admitted (or is about
        # to refuse). At the default 64 KB window a body arrives only as fast as it is read.
        ("grpc.http2.bdp_probe", 0),
    ]


class GrpcEndpoint:
    """Owns one aio server. `register` adds the service implementations; `start` binds and serves."""

    def __init__(
        self,
        host: str,
        port: int,
        register: Callable[[grpc.aio.Server], list[str]],
        credentials: grpc.ServerCredentials | None = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_concurrent_calls: int | None = None,
        drain_s: float = 0.0,
        calls_started: Callable[[], int] | None = None,
        reuse_port: bool = False,
    ):
        self._host = host
        self._port = port
        self._reuse_port = reuse_port  # several processes serve this port (SO_REUSEPORT)
        self._register = register
        self._credentials = credentials
        self._interceptors = tuple(interceptors)
        self._max_message_bytes = max_message_bytes
        self._max_concurrent_calls = max_concurrent_calls
        self._drain_s = drain_s
        self._calls_started = calls_started  # how many calls handlers have begun (for `settle`)
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._service_names: list[str] = []
        self.port: int | None = None

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}"

    async def start(self) -> None:
        server = grpc.aio.server(
            options=server_options(self._max_message_bytes, self._reuse_port),
            interceptors=self._interceptors,
            maximum_concurrent_rpcs=self._max_concurrent_calls,
        )
        self._service_names = self._register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [
                *self._service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        bind = f"{self._host}:{self._port}"
        try:
            if self._credentials is not None:
                self.port = server.add_secure_port(bind, self._credentials)
            else:
                self.port = server.add_insecure_port(bind)
        except RuntimeError:  # gRPC's own message names the address only, and suggests debug logs
            self.port = 0
        if self.port == 0:
            raise ConfigError(f"port: cannot listen on {bind}: it is in use, or not an address of this host")
        await server.start()
        self._server = server
        await self.set_serving(True)
        log.info("gRPC serving on %s%s", self.address, " (TLS)" if self._credentials is not None else "")

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (health.OVERALL_HEALTH, *self._service_names):
            await self._health.set(name, status)

    async def set_component(self, name: str, serving: bool) -> None:
        """Health of a named part (e.g. "interfleet.predictor") without changing the server's own."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self._health.set(name, status)

    async def stop(self, grace: float) -> None:
        if self._server is None:
            return
        await self._health.enter_graceful_shutdown()
        if self._drain_s > 0:
            log.info("NOT_SERVING; draining for %.1f s before refusing new calls", self._drain_s)
            await asyncio.sleep(self._drain_s)
        await self._settle()
        await self._server.stop(grace)
        self._server = None
        log.info("gRPC server on %s stopped", self.address)

    async def _settle(self) -> None:
        """Wait until handlers have begun no new call for SETTLE_QUIET_S (see SETTLE_QUIET_S)."""
        if self._calls_started is None:
            return
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SETTLE_MAX_S
        seen = self._calls_started()
        while loop.time() < give_up:
            await asyncio.sleep(SETTLE_QUIET_S)
            now_seen = self._calls_started()
            if now_seen == seen:
                return
            seen = now_seen

    async def wait_for_termination(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()
