"""ModelStreamInfer: many requests in flight on one bidirectional stream.

Each request read from the stream is handled concurrently and its response written as soon as
it is ready, so a slow request does not hold up the ones behind it (responses carry the request
id; tritonclient's stream callback matches them). A failing request produces an in-band
`error_message` response and the stream goes on. When the client goes away, the requests it
left in flight are cancelled.

Backpressure: at most `window` requests are held per stream, running or answered but not yet
written. At the limit the server stops reading the stream, so HTTP/2 flow control makes a client
that sends faster than it reads wait, rather than the server buffering without bound. With a
`budget` (`byte_budget`, the server's one), each message also takes room in it before it is
read (`read_bytes`, then its own `size`) until its answer is written: a stream that cannot get
room waits, unread, for as long as it takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from interfleet.kserve.byte_budget import COPIES, ByteBudget

Request = TypeVar("Request")
Response = TypeVar("Response")

_END = object()


DEFAULT_WINDOW = 1024


async def serve_stream(
    requests: AsyncIterator[Request],
    handle: Callable[[Request], Awaitable[Response]],
    window: int = DEFAULT_WINDOW,
    budget: ByteBudget | None = None,
    read_bytes: int = 0,
    size: Callable[[Request], int] = lambda request: 0,
) -> AsyncIterator[Response]:
    """Yield `handle(request)` for each request, in completion order. `handle` must not raise."""
    done: asyncio.Queue = asyncio.Queue()
    tasks: dict[asyncio.Task, int] = {}  # each request's task -> the budget bytes it holds
    slots = asyncio.Semaphore(window)  # one per request held, released once its answer is written
    reading_finished = False
    closed = False  # the caller stopped taking answers (the client went away)

    def release(held: int) -> None:
        slots.release()
        if budget is not None:
            budget.release(held)

    def finished(task: asyncio.Task) -> None:
        held = tasks.pop(task, 0)
        if task.cancelled() or closed:  # an answer nobody will write gives its room back now
            release(held)
        else:
            done.put_nowait((task.result(), held))
        if reading_finished and not tasks:
            done.put_nowait(_END)

    async def room() -> int:
        """Budget bytes for the next message, waited for as long as it takes (0: no budget)."""
        while budget is not None:
            held = await budget.acquire(read_bytes * COPIES)
            if held:
                return held
        return 0

    async def read() -> None:
        nonlocal reading_finished
        incoming = aiter(requests)
        try:
            while True:
                await slots.acquire()
                held = await room()
                try:
                    request = await anext(incoming)
                except BaseException:  # the end of the stream, or its failure: nothing more to hold
                    release(held)
                    raise
                if budget is not None:
                    held = budget.resize(held, size(request) * COPIES)
                task = asyncio.ensure_future(handle(request))
                tasks[task] = held
                task.add_done_callback(finished)
        except StopAsyncIteration:
            pass
        finally:
            reading_finished = True
            if not tasks:
                done.put_nowait(_END)

    reader = asyncio.ensure_future(read())
    try:
        while True:
            item = await done.get()
            if item is _END:
                break
            response, held = item
            try:
                yield response
            finally:  # written, or never to be (the caller left at this answer)
                release(held)
        await reader  # surfaces a failure of the request stream itself
    finally:
        closed = True
        reader.cancel()
        for task in list(tasks):
            task.cancel()
        while not done.empty():  # answers ready but never written
            item = done.get_nowait()
            if item is not _END:
                release(item[1])
