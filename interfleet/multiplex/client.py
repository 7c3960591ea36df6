"""The router's side of the hop: requests multiplexed over a few long-lived streams per worker.

A unary gRPC call pays for its own HTTP/2 stream, headers and trailers, and in grpc.aio for
several completion-queue round trips through the event loop; a message on an open stream pays
for one, and a write on a TCP socket for less (`interfleet.multiplex.links`). So each
`MultiplexedStream` is opened once, on a link, and carries every request sent on it as a
tagged frame; a reader task matches replies back to their callers by tag, in whatever order
they finish. One writer task sends every frame that is ready in one message, so under load many
requests share one gRPC message, and requests never wait behind each other's writes; on a socket
with room in its buffer, the frames of one turn of the event loop are written together at its
end instead, without waking the writer.

Each request keeps the semantics of its own call:
- deadline: the time left goes to the worker inside the frame, which enforces it; a local timer
  also answers DEADLINE_EXCEEDED if the worker has not answered by then, and cancels there;
- cancellation: a caller that is cancelled (its client went away) sends a cancel frame;
- flow control: at most `window` requests are in flight on a stream, beyond which callers wait
  for a slot (HTTP/2 flow control bounds the bytes underneath);
- loss: when the stream breaks (the worker died, restarted or is draining), every request still
  in flight on it fails UNAVAILABLE, which the dispatcher retries on another worker as it would
  a failed unary call, and the next request opens a new stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

from interfleet.errors import Code, DeadlineExceeded, RemoteError, Unavailable
from interfleet.multiplex import frames
from interfleet.multiplex.links import Link, LinkLost

log = logging.getLogger(__name__)


class MultiplexedStream:
    """One open `WorkerInference.Infer` stream and the requests in flight on it."""

    def __init__(self, link: Link, worker_id: str, window: int):
        self._link = link
        self._worker_id = worker_id
        self._slots = asyncio.Semaphore(window)
        self._tags = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._idle = asyncio.Event()  # set while nothing is in flight
        self._idle.set()
        self._outbox: list[bytes] = []
        self._has_mail = asyncio.Event()
        self._opened: asyncio.Future | None = None
        self._writes_now = False  # the link is open and takes writes without waiting (a socket)
        self._tasks: list[asyncio.Task] = []
        self.closed = False

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def open(self) -> None:
        """Open the link and start writing and reading; requests may be sent at once (they wait in
        the outbox until the link is open)."""
        self._opened = asyncio.ensure_future(self._open())
        self._tasks = [asyncio.ensure_future(self._write_loop()), asyncio.ensure_future(self._read_loop())]

    async def _open(self) -> None:
        await self._link.open()
        self._writes_now = self._link.writes_now  # from now on a frame may go straight onto the link

    async def infer(self, request: bytes, timeout: float | None) -> bytes:
        """Send serialized ModelInferRequest `request`; return the serialized response."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        async with self._slots:
            if self.closed:
                raise Unavailable(f"stream to worker {self._worker_id} is closed")
            if deadline is not None:
                timeout = deadline - loop.time()  # less any wait for a slot
                if timeout <= 0:
                    raise DeadlineExceeded(
                        f"deadline exceeded before the request reached worker {self._worker_id}"
                    )
            tag = next(self._tags)
            future = self._pending[tag] = loop.create_future()
            self._idle.clear()
            self._send(frames.request_frame(tag, request, timeout))
            timer = loop.call_later(timeout, self._expire, tag) if timeout is not None else None
            try:
                return await future
            except asyncio.CancelledError:
                if self._settle(tag) is not None and not self.closed:
                    self._send(frames.cancel_frame(tag))
                raise
            finally:
                if timer is not None:
                    timer.cancel()

    def _send(self, entry: bytes) -> None:
        self._outbox.append(entry)
        if len(self._outbox) > 1:
            return  # a flush or the writer is already due
        if self._writes_now:
            # A socket: what this turn of the event loop sends goes out in one write at its end,
            # without waking the writer task (one send for many requests under load).
            asyncio.get_running_loop().call_soon(self._flush)
        else:
            self._has_mail.set()

    def _flush(self) -> None:
        """Write the outbox at once if the link has room; else leave it to the writer task."""
        if not self._outbox or self.closed:
            return
        entries, rest = frames.take(self._outbox)
        if self._link.send_now(frames.join(entries)):
            self._outbox = rest
            if not rest:
                return
        self._has_mail.set()

    def _settle(self, tag: int) -> asyncio.Future | None:
        """Take request `tag` out of flight; its future, unless it was already taken out."""
        future = self._pending.pop(tag, None)
        if not self._pending:
            self._idle.set()
        return future

    async def drained(self) -> None:
        """Wait until no request is in flight on this stream."""
        await self._idle.wait()

    def _expire(self, tag: int) -> None:
        future = self._settle(tag)
        if future is None or future.done():
            return
        future.set_exception(DeadlineExceeded(f"deadline exceeded waiting for worker {self._worker_id}"))
        if not self.closed:
            self._send(frames.cancel_frame(tag))

    async def _write_loop(self) -> None:
        try:
            await self._opened
            while True:
                await self._has_mail.wait()
                self._has_mail.clear()
                while self._outbox:
                    entries, self._outbox = frames.take(self._outbox)
                    await self._link.write(frames.join(entries))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the link failed; the reader reports why
            log.debug("stream to worker %s: write failed (%s)", self._worker_id, exc)
            self._link.close()

    async def _read_loop(self) -> None:
        reason = "closed by the worker"
        try:
            await self._opened
            while True:
                message = await self._link.read()
                if message is None:
                    break
                for reply in frames.parse_replies(message):
                    future = self._settle(reply.tag)
                    if future is None or future.done():
                        continue  # cancelled or expired here already
                    if reply.code == 0:
                        future.set_result(reply.response)
                    else:
                        future.set_exception(RemoteError(Code.of_number(reply.code), reply.message))
        except LinkLost as exc:
            reason = exc.reason
        except asyncio.CancelledError:
            reason = "the router is closing it"
            raise
        finally:
            self._lose(reason)

    def _lose(self, reason: str) -> None:
        """The stream is gone: fail what is in flight on it (retryable) and stop writing."""
        self.closed = True
        if self._opened is not None:
            self._opened.cancel()  # a connection still being made is abandoned, not left open
        self._link.close()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        pending, self._pending = self._pending, {}
        self._idle.set()
        if pending:
            log.info(
                "stream to worker %s lost with %d request(s) in flight: %s",
                self._worker_id,
                len(pending),
                reason,
            )
        for future in pending.values():
            if not future.done():
                future.set_exception(Unavailable(f"worker {self._worker_id} lost the request: {reason}"))

    async def close(self, timeout: float = 1.0) -> None:
        """Cancel the call and its tasks; never waits on them longer than `timeout` (a stop must end)."""
        if self._opened is not None:
            self._opened.cancel()
        self._link.close()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=timeout)


class WorkerStreams:
    """A small pool of multiplexed streams to one worker, opened on first use and reopened after loss.

    A request goes to the open stream with the fewest requests in flight. More than one stream
    keeps one slow write (a large tensor) from delaying every request behind it.
    """

    def __init__(self, links: Callable[[], Link], worker_id: str, streams: int = 2, window: int = 512):
        if streams < 1 or window < 1:
            raise ValueError("a worker needs at least one stream with a window of at least one request")
        self._links = links  # a new link for each stream opened
        self._worker_id = worker_id
        self._window = window
        self._streams: list[MultiplexedStream | None] = [None] * streams

    @property
    def in_flight(self) -> int:
        return sum(s.in_flight for s in self._streams if s is not None and not s.closed)

    def _stream(self) -> MultiplexedStream:
        best = None
        for i, stream in enumerate(self._streams):
            if stream is None or stream.closed:
                stream = self._streams[i] = MultiplexedStream(self._links(), self._worker_id, self._window)
                stream.open()
            if stream.in_flight == 0:
                return stream
            if best is None or stream.in_flight < best.in_flight:
                best = stream
        return best

    async def infer(self, request: bytes, timeout: float | None) -> bytes:
        return await self._stream().infer(request, timeout)

    async def drained(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) until no request is in flight to this worker."""
        waits = [asyncio.ensure_future(s.drained()) for s in self._streams if s is not None and not s.closed]
        if waits:
            _, late = await asyncio.wait(waits, timeout=timeout)
            for wait in late:
                wait.cancel()

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self._streams if s is not None), return_exceptions=True)
