"""The worker's frames port: `WorkerInference` streams on plain TCP connections.

Each connection is one stream, served by `MultiplexedInferService.serve` as a gRPC stream is:
the router writes request and cancel entries, the worker writes replies, and the entries carry
their own lengths (`frames.whole_entries`). It is what a router's `SocketLink` dials, and the
worker offers it only without TLS: it has no encryption or peer identity of its own, exactly as
the worker's gRPC port has none then.

Bounds: an entry larger than the worker's message cap ends its connection (as gRPC refuses a
message over the cap), and the service's window stops the reads of a connection whose requests
are all in flight, so TCP flow control holds the sender back. Malformed bytes end only their own
connection. Stopping: `close()` stops accepting (the service is draining by then, so each
connection ends once its requests are answered) and `stop(grace)` waits for them that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator

from interfleet.errors import ConfigError
from interfleet.multiplex.entry_reader import EntryReader
from interfleet.multiplex.server import MultiplexedInferService

log = logging.getLogger(__name__)


async def entries(reader: asyncio.StreamReader, limit: int) -> AsyncIterator[bytes]:
    """Messages of whole entries, as they arrive; ValueError for bytes that are not entries."""
    reading = EntryReader(reader, limit)
    while (message := await reading.next()) is not None:
        yield message


class FramesListener:
    def __init__(self, service: MultiplexedInferService, host: str, port: int, limit: int):
        self._service = service
        self._host, self._port = host, port
        self._limit = limit  # the largest entry accepted: the worker's message cap
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._connection, self._host, self._port)
        except OSError as exc:
            raise ConfigError(
                f"frames_port: cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peer = writer.get_extra_info("peername")
        connected = writer.get_extra_info("socket")
        if connected is not None:
            connected.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        async def write(message: bytes) -> None:
            writer.write(message)
            await writer.drain()

        try:
            malformed = await self._service.serve(entries(reader, self._limit), write)
            if malformed:
                log.warning("frames connection from %s closed: %s", peer, malformed)
        except (ConnectionError, OSError) as exc:
            log.info("frames connection from %s lost: %s", peer, exc)
        finally:
            self._connections.discard(task)
            writer.close()

    def close(self) -> None:
        """Accept no more connections; those open carry on (see the module docstring)."""
        if self._server is not None:
            self._server.close()

    async def stop(self, grace: float) -> None:
        self.close()
        if self._connections:
            _, late = await asyncio.wait(list(self._connections), timeout=grace)
            for task in late:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*late, return_exceptions=True)
