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


async def test_with_a_budget_a_message_is_read_only_once_room_for_it_is_held_and_all_room_comes_back():
    from interfleet.kserve.byte_budget import COPIES, ByteBudget

    budget = ByteBudget(10 * COPIES)  # room for two messages of up to 5 bytes (the read reservation)
    read = []
    gate = asyncio.Event()

    async def requests():
        for message in (b"aaaaa", b"bbbbb", b"ccccc", b"ddddd"):
            read.append(message)
            yield message

    async def handle(request: bytes) -> bytes:
        await gate.wait()
        return request.upper()

    answers = serve_stream(requests(), handle, budget=budget, read_bytes=5, size=len)
    first = asyncio.ensure_future(anext(answers))
    for _ in range(20):
        await asyncio.sleep(0)
    assert read == [b"aaaaa", b"bbbbb"] and budget.held == 10 * COPIES  # the third waits, unread
    gate.set()
    got = [await first] + [answer async for answer in answers]
    assert sorted(got) == [b"AAAAA", b"BBBBB", b"CCCCC", b"DDDDD"] and budget.held == 0


async def test_a_stream_the_client_leaves_gives_its_room_back():
    from interfleet.kserve.byte_budget import ByteBudget

    budget = ByteBudget(1000)

    async def requests():
        for _ in range(5):
            yield b"x" * 10

    async def handle(request: bytes) -> bytes:
        return request

    answers = serve_stream(requests(), handle, budget=budget, read_bytes=10, size=len)
    assert await anext(answers) == b"x" * 10
    await answers.aclose()  # the client went away with answers still unwritten
    for _ in range(5):
        await asyncio.sleep(0)
    assert budget.held == 0
