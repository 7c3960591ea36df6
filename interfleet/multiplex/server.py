"""The worker's side of the hop: `WorkerInference.Infer`, many tagged requests on one stream.

A stream is a gRPC call on the worker's port or a connection to its frames port
(`interfleet.multiplex.sockets`); both are served by `serve`, the same way.

Each request frame is handled as its own task by the same domain call the unary ModelInfer
uses, with the deadline the frame carries, so a slow request never holds up the ones behind
it. Replies go out in completion order, every reply that is ready in one message. A cancel
frame cancels its request's task. An error is answered in-band with its status code, and the
stream goes on.

Draining: once `drain()` is called (the worker is stopping), frames that arrive are answered
UNAVAILABLE at once, so routers retry them elsewhere, and each stream ends as soon as the
requests it already carries are answered, so the server's grace period is not spent waiting
on idle streams that would otherwise never end.

Flow control: a stream holds at most `window` requests at once, running or answered but not yet
written back. At the window the reader stops taking messages until replies go out, so HTTP/2
flow control holds the sender back instead of the worker queueing every frame it is sent, or
every reply to a sender that does not read (a million frames once added 180 MB).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
from google.protobuf.message import DecodeError
from tritonclient.grpc import service_pb2

from interfleet.kserve.call import parse_infer_request
from interfleet.kserve.status import status_of
from interfleet.multiplex import frames

SERVICE_NAME = "interfleet.v1.WorkerInference"
# Twice the router's own window per stream (`interfleet.multiplex.client`): never binding for a
# router that keeps to its own, a bound for anything else that opens a stream.
DEFAULT_WINDOW = 1024

# The domain call: a parsed request and its deadline (time.monotonic) -> the response.
InferHandler = Callable[
    [service_pb2.ModelInferRequest, float | None], Awaitable[service_pb2.ModelInferResponse]
]


class _Stream:
    """One open stream: its requests in flight and the replies waiting to be written."""

    def __init__(self) -> None:
        self.tasks: dict[int, asyncio.Task] = {}
        self.outbox: list[bytes] = []
        self.wake = asyncio.Event()
        self.reading = True
        self.malformed = ""  # why the incoming stream could not be read, if it could not
        self.room = asyncio.Event()  # set when requests held (running, or replies unwritten) fall
        self.room.set()

    def send(self, entry: bytes) -> None:
        self.outbox.append(entry)
        self.wake.set()


class MultiplexedInferService:
    def __init__(
        self,
        handle: InferHandler,
        worker_id: str,
        clock: Callable[[], float] = time.monotonic,
        window: int = DEFAULT_WINDOW,
    ):
        if window < 1:
            raise ValueError("a stream's window must admit at least one request")
        self._window = window
        self._handle = handle
        self._worker_id = worker_id
        self._clock = clock
        self._streams: set[_Stream] = set()
        self.draining = False

    def register(self, server: grpc.aio.Server) -> str:
        handler = grpc.stream_stream_rpc_method_handler(self._serve)  # bytes in, bytes out
        handlers = {"Infer": handler}
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
        server.add_registered_method_handlers(SERVICE_NAME, handlers)
        return SERVICE_NAME

    def drain(self) -> None:
        """Refuse new frames (UNAVAILABLE) and end each stream once its requests are answered."""
        self.draining = True
        for stream in self._streams:
            stream.wake.set()

    async def _serve(self, messages, context: grpc.aio.ServicerContext) -> None:
        malformed = await self.serve(messages, context.write)
        if malformed:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, malformed)

    async def serve(self, messages: AsyncIterator[bytes], write: Callable[[bytes], Awaitable[None]]) -> str:
        """Serve one stream, on a gRPC call or a socket (`interfleet.multiplex.sockets`): its
        messages in, replies out through `write`, until the messages end and every request is
        answered (or, draining, as soon as its requests are answered). Returns why the incoming
        messages could not be read, or "" if they could."""
        stream = _Stream()
        self._streams.add(stream)
        reader = asyncio.ensure_future(self._read(messages, stream))
        try:
            while True:
                await stream.wake.wait()
                stream.wake.clear()
                while stream.outbox:
                    entries, stream.outbox = frames.take(stream.outbox)
                    await write(frames.join(entries))
                    stream.room.set()
                if not stream.tasks and (not stream.reading or self.draining):
                    break
            return stream.malformed
        finally:
            self._streams.discard(stream)
            reader.cancel()
            for task in stream.tasks.values():
                task.cancel()

    async def _read(self, messages, stream: _Stream) -> None:
        try:
            async for message in messages:
                for frame in frames.parse_frames(message):
                    self._on_frame(frame, stream)
                while len(stream.tasks) + len(stream.outbox) >= self._window:
                    stream.room.clear()
                    await stream.room.wait()
        except (DecodeError, ValueError) as exc:  # ValueError: a socket's bytes that are not entries
            stream.malformed = f"not an InferFrames message: {exc}"
        finally:
            stream.reading = False
            stream.wake.set()

    def _on_frame(self, frame, stream: _Stream) -> None:
        tag = frame.tag
        if frame.cancel:
            task = stream.tasks.get(tag)
            if task is not None:
                task.cancel()
            return
        if self.draining:
            stream.send(
                frames.error_reply(
                    tag, grpc.StatusCode.UNAVAILABLE.value[0], f"worker {self._worker_id} is shutting down"
                )
            )
            return
        if tag in stream.tasks:
            stream.send(
                frames.error_reply(tag, grpc.StatusCode.INVALID_ARGUMENT.value[0], f"tag {tag} is in flight")
            )
            return
        deadline = self._clock() + frame.timeout_s if frame.timeout_s > 0 else None
        task = asyncio.ensure_future(self._run(tag, frame.request, deadline, stream))
        stream.tasks[tag] = task

    async def _run(self, tag: int, raw: bytes, deadline: float | None, stream: _Stream) -> None:
        try:
            response = await self._handle(parse_infer_request(raw), deadline)
            entry = frames.reply(tag, response.SerializeToString())
        except asyncio.CancelledError:
            stream.tasks.pop(tag, None)
            stream.room.set()
            stream.wake.set()  # a draining stream may now be done
            raise
        except Exception as exc:  # noqa: BLE001 - answered in-band with its status, the stream goes on
            code, message = status_of(exc)
            entry = frames.error_reply(tag, code.value[0], message)
        stream.tasks.pop(tag, None)
        stream.send(entry)  # still held until written: `room` is set by the writer
