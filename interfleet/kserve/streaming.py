"""ModelStreamInfer: many requests in flight on one bidirectional stream.

Each request read from the stream is handled concurrently and its response written as soon as
it is ready, so a slow request does not hold up the ones behind it (responses carry the request
id; tritonclient's stream callback matches them). A failing request produces an in-band
`error_message` response and the stream goes on. When the client goes away, the requests it
left in flight are cancelled.

Backpressure: at most `window` requests are held per stream, running or answered but not yet
written. At the limit the server stops reading the stream, so HTTP/2 flow control makes a client
that sends faster than it reads wait, rather than the server buffering without bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

Request = TypeVar("Request")
Response = TypeVar("Response")

_END = object()


DEFAULT_WINDOW = 1024


async def serve_stream(
    requests: AsyncIterator[Request],
    handle: Callable[[Request], Awaitable[Response]],
    window: int = DEFAULT_WINDOW,
) -> AsyncIterator[Response]:
    """Yield `handle(request)` for each request, in completion order. `handle` must not raise."""
    done: asyncio.Queue = asyncio.Queue()
    tasks: set[asyncio.Task] = set()
    slots = asyncio.Semaphore(window)  # one per request held, released once its answer is written
    reading_finished = False

    def finished(task: asyncio.Task) -> None:
        tasks.discard(task)
        if task.cancelled():
            slots.release()
        else:
            done.put_nowait(task.result())
        if reading_finished and not tasks:
            done.put_nowait(_END)

    async def read() -> None:
        nonlocal reading_finished
        incoming = aiter(requests)
        try:
            while True:
                await slots.acquire()
                try:
                    request = await anext(incoming)
                except StopAsyncIteration:
                    break
                task = asyncio.ensure_future(handle(request))
                tasks.add(task)
                task.add_done_callback(finished)
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
            yield item
            slots.release()
        await reader  # surfaces a failure of the request stream itself
    finally:
        reader.cancel()
        for task in list(tasks):
            task.cancel()
