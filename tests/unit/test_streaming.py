"""ModelStreamInfer's engine: completion order, and a bounded window that pushes back on the reader."""

import asyncio

from interfleet.kserve.streaming import serve_stream


async def test_a_client_that_does_not_read_is_not_buffered_without_bound():
    read = []
    gate = asyncio.Event()

    async def requests():
        for i in range(100):
            read.append(i)
            yield i

    async def handle(request: int) -> int:
        await gate.wait()
        return request

    answers = serve_stream(requests(), handle, window=3)
    first = asyncio.ensure_future(anext(answers))
    for _ in range(20):
        await asyncio.sleep(0)
    assert read == [0, 1, 2]  # three held, the fourth not read: the stream waits
    gate.set()
    got = [await first] + [answer async for answer in answers]
    assert sorted(got) == list(range(100))


async def test_answers_go_out_in_completion_order():
    async def requests():
        for delay in (0.05, 0.0, 0.02):
            yield delay

    async def handle(delay: float) -> float:
        await asyncio.sleep(delay)
        return delay

    assert [answer async for answer in serve_stream(requests(), handle)] == [0.0, 0.02, 0.05]
