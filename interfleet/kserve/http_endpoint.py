"""An aiohttp server for the KServe v2 HTTP/REST protocol, started and stopped explicitly.

It runs in the service's own event loop beside the gRPC server and offers the same guarantees:
TLS (and mutual TLS) from the same files, the same bearer tokens and scopes (`Authorization:
Bearer <token>`; a `read` token may do anything but infer; `/v2/health/*` stays open for
orchestrators' probes, as gRPC's health service does), bodies capped at `max_message_bytes`,
at most `max_concurrent_calls` requests at once (the next is answered 429 at once), and with a
`budget` (`byte_budget`, the one the gRPC port shares) an inference body read only once room for
it is held (beyond, it waits unread, then 429).

This is the one place domain errors become HTTP statuses, as Triton's HTTP server maps its
own: NOT_FOUND 404, UNAVAILABLE 503, UNIMPLEMENTED 501, INTERNAL 500, the argument errors 400.
Codes Triton has no equivalent for take their canonical HTTP mapping (google.rpc.Code): DEADLINE_EXCEEDED 504,
RESOURCE_EXHAUSTED 429, UNAUTHENTICATED 401, PERMISSION_DENIED 403. The body is always
`{"error": "<message>"}`, which tritonclient.http raises as InferenceServerException.

`stop` makes readiness answer 400 first, waits `drain_s`, then stops accepting connections and
gives requests in flight `grace` seconds to finish.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from interfleet.errors import Code, ConfigError, ServingError
from interfleet.kserve.byte_budget import ByteBudget
from interfleet.security.tokens import TokenAuth

log = logging.getLogger(__name__)

# Copies an HTTP inference request takes at once (measured: 400 concurrent 1.5 MiB bodies grew
# the router 1.2 GB at 3): the body read, the tensors parsed from it, the protobuf request built
# from them, the frame, gRPC's send buffer. The gRPC port's requests take 3 (`byte_budget`).
HTTP_COPIES = 5

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HTTP_STATUS: dict[Code, int] = {
    Code.NOT_FOUND: 404,
    Code.UNAVAILABLE: 503,
    Code.UNIMPLEMENTED: 501,
    Code.INTERNAL: 500,
    Code.UNKNOWN: 500,
    Code.DATA_LOSS: 500,
    Code.DEADLINE_EXCEEDED: 504,
    Code.RESOURCE_EXHAUSTED: 429,
    Code.UNAUTHENTICATED: 401,
    Code.PERMISSION_DENIED: 403,
}
OPEN_PREFIX = "/v2/health/"


def http_status(code: Code) -> int:
    """The HTTP status of a domain code (400 for the argument and precondition errors)."""
    return HTTP_STATUS.get(code, 400)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps({"error": message}).encode(),
        content_type="application/json",
        headers=headers,
    )


def json_response(document: Any) -> web.Response:
    return web.Response(body=json.dumps(document).encode(), content_type="application/json")


class HttpEndpoint:
    """Owns one aiohttp server. `add_routes` adds the service's routes; `start` binds and serves."""

    def __init__(
        self,
        host: str,
        port: int,
        add_routes: Callable[[web.Application], None],
        ssl_context: ssl.SSLContext | None = None,
        auth: TokenAuth | None = None,
        is_inference: Callable[[web.Request], bool] = lambda request: False,
        is_change: Callable[[web.Request], bool] = lambda request: False,
        max_message_bytes: int = 64 * 1024 * 1024,
        max_concurrent_calls: int = 512,
        drain_s: float = 0.0,
        budget: ByteBudget | None = None,
        reuse_port: bool = False,
    ):
        self._host = host
        self._port = port
        self._reuse_port = reuse_port  # several processes serve this port (SO_REUSEPORT)
        self._ssl_context = ssl_context
        self._auth = auth
        self._is_inference = is_inference
        self._is_change = is_change  # a call that changes what is served (a read token may not)
        self._max_concurrent_calls = max_concurrent_calls
        self._max_message_bytes = max_message_bytes
        self._budget = budget  # shared with the gRPC port: one bound per process
        self._drain_s = drain_s
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        self._app = web.Application(
            middlewares=[self._admit, self._authenticate, self._reserve, self._map_errors],
            client_max_size=max_message_bytes,
        )
        add_routes(self._app)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}" if self.port else ""

    @web.middleware
    async def _admit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._in_flight >= self._max_concurrent_calls:
            return error_response(
                429, f"HTTP request limit exceeded: {self._in_flight} in flight (max_concurrent_calls)"
            )
        self._in_flight += 1
        self._idle.clear()
        try:
            return await handler(request)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._auth is None or request.path.startswith(OPEN_PREFIX):
            return await handler(request)
        header = request.headers.get("Authorization")
        scope = self._auth.scope_of(header)
        if scope is None:
            why = "missing 'Authorization: Bearer <token>' header" if not header else "invalid token"
            return error_response(401, why, {"WWW-Authenticate": "Bearer"})
        if scope == "read" and (self._is_inference(request) or self._is_change(request)):
            return error_response(
                403, f"a '{scope}' token may not run inference or change the repository ({request.path})"
            )
        return await handler(request)

    @web.middleware
    async def _reserve(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Room in the request byte budget for an inference body before it is read: its declared
        length (the cap when it is compressed or unannounced) times HTTP_COPIES."""
        if self._budget is None or not self._is_inference(request):
            return await handler(request)
        length = request.content_length
        if length is None or request.headers.get("Content-Encoding"):
            length = self._max_message_bytes
        held = await self._budget.acquire(length * HTTP_COPIES)
        if not held:
            return error_response(429, self._budget.refusal(HTTP_COPIES, self._budget.wait_s))
        try:
            return await handler(request)
        finally:
            self._budget.release(held)

    @web.middleware
    async def _map_errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            # aiohttp's own refusals (no such route, wrong method, body too large) in Triton's shape.
            return error_response(exc.status, f"{exc.reason}: {request.method} {request.path}")
        except ServingError as exc:
            return error_response(http_status(exc.code), exc.message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("unexpected error while serving %s %s", request.method, request.path, exc_info=exc)
            return error_response(500, f"internal error: {type(exc).__name__}: {exc}")

    async def start(self) -> None:
        if self._port < 0:
            return
        # Requests in flight get `stop`'s grace (below); whatever outlives it is cancelled at once.
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            self._host,
            self._port,
            ssl_context=self._ssl_context,
            reuse_port=self._reuse_port or None,
        )
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise ConfigError(
                f"http_port: cannot listen on {self._host}:{self._port}: {exc.strerror}"
            ) from None
        self.port = self._runner.addresses[0][1]
        log.info("HTTP serving on %s%s", self.address, " (TLS)" if self._ssl_context else "")

    async def stop(self, grace: float) -> None:
        if self._runner is None:
            return
        self.draining = True
        if self._drain_s > 0:
            await asyncio.sleep(self._drain_s)
        for site in list(self._runner.sites):
            await site.stop()  # no new connections
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning(
                "%d HTTP request(s) still running after %.1f s; cancelling them", self._in_flight, grace
            )
        await self._runner.cleanup()
        self._runner = None
        log.info("HTTP server on %s stopped", self.address)
