"""What carries a multiplexed stream's frames between the router and a worker: a link.

A link opens once, writes messages (one or more entries each), reads messages (whole entries, in
whatever grouping they arrive) until it returns None at a clean end, and raises `LinkLost` with
the reason when it breaks. Two kinds:

- `GrpcLink`: a bidirectional `WorkerInference.Infer` gRPC stream, over the worker's gRPC port,
  with its TLS and peer identity when the fleet has them;
- `SocketLink`: a plain TCP connection to the worker's frames port (`interfleet.multiplex.sockets`),
  offered by workers without TLS. The entries are the same bytes; what it saves is gRPC's
  machinery around each message (HTTP/2 framing, completion-queue events handed from gRPC's
  poller thread to the event loop), about 0.3 ms of the router's CPU per request on this
  machine's benchmarks (`make bench-router`).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Protocol

import grpc

from interfleet.multiplex.entry_reader import EntryReader

INFER_METHOD = "/interfleet.v1.WorkerInference/Infer"
TRANSPORTS = ("socket", "grpc")  # a router's choice: sockets where workers offer them, or gRPC always
# Bytes a socket's writer buffers before a write waits for the kernel to take them (one joined
# message may go in past it, as asyncio's high-water mark works): the peer's flow control, as
# HTTP/2's window is on a gRPC stream.
WRITE_BUFFER_BYTES = 4 * 1024 * 1024
# A connection to a frames port not made by then counts as unreachable (a firewall that drops
# the packets would otherwise hold the requests queued on it for the kernel's minutes).
CONNECT_TIMEOUT_S = 2.0


class LinkLost(Exception):
    """The link broke; `reason` says how."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Link(Protocol):
    async def open(self) -> None: ...

    async def write(self, message: bytes) -> None: ...

    async def read(self) -> bytes | None: ...

    # Whether `send_now` can ever succeed (a socket), so a sender may try it before `write`.
    writes_now: bool

    def send_now(self, message: bytes) -> bool:
        """Write `message` without waiting if the link can take it now; False: `write` it instead."""
        ...

    def close(self) -> None: ...


class GrpcLink:
    writes_now = False

    def __init__(self, channel: grpc.aio.Channel):
        self._channel = channel
        self._call: grpc.aio.StreamStreamCall | None = None

    async def open(self) -> None:
        self._call = self._channel.stream_stream(INFER_METHOD)()  # bytes in, bytes out

    async def write(self, message: bytes) -> None:
        assert self._call is not None, "open() first"
        await self._call.write(message)

    async def read(self) -> bytes | None:
        assert self._call is not None, "open() first"
        try:
            message = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            raise LinkLost(f"{exc.code().name}: {exc.details()}") from None
        return None if message is grpc.aio.EOF else message

    def send_now(self, message: bytes) -> bool:
        return False  # a gRPC stream writes only by awaiting

    def close(self) -> None:
        if self._call is not None:
            self._call.cancel()


class SocketLink:
    writes_now = True

    def __init__(
        self,
        address: str,
        limit: int,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        on_unreachable: Callable[[str], None] | None = None,
    ):
        host, _, port = address.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._limit = limit  # the largest entry accepted from the worker
        self._connect_timeout_s = connect_timeout_s
        self._on_unreachable = on_unreachable  # told why, when the connection cannot be made
        self._entries: EntryReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        try:
            reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port), self._connect_timeout_s
            )
        except (OSError, TimeoutError) as exc:
            reason = f"cannot connect to {self._host}:{self._port}: {exc or 'no answer within the timeout'}"
            if self._on_unreachable is not None:
                self._on_unreachable(reason)
            raise LinkLost(reason) from None
        self._entries = EntryReader(reader, self._limit)
        connected = self._writer.get_extra_info("socket")
        if connected is not None:  # small frames go out at once, not after Nagle's delay
            connected.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer.transport.set_write_buffer_limits(high=WRITE_BUFFER_BYTES)

    async def write(self, message: bytes) -> None:
        assert self._writer is not None, "open() first"
        self._writer.write(message)
        await self._writer.drain()  # returns at once unless the buffer is past its high mark

    async def read(self) -> bytes | None:
        assert self._entries is not None, "open() first"
        try:
            return await self._entries.next()
        except ValueError as exc:
            raise LinkLost(f"unreadable frames from the worker: {exc}") from None
        except OSError as exc:
            raise LinkLost(f"connection lost: {exc}") from None

    def send_now(self, message: bytes) -> bool:
        writer = self._writer
        if writer is None or writer.is_closing():
            return False
        if writer.transport.get_write_buffer_size() + len(message) > WRITE_BUFFER_BYTES:
            return False  # the peer is slow to read: let `write` wait for room
        writer.write(message)
        return True

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
