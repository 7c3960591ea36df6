"""The request byte budget: room reserved before a read, shrunk after it, waiters served in order,
a waiter refused (never left hanging) when no room comes in time."""

from __future__ import annotations

import asyncio

import pytest

from interfleet.kserve.byte_budget import ByteBudget


async def test_a_reservation_shrinks_to_the_request_and_frees_room_for_the_next():
    budget = ByteBudget(100)
    first = await budget.acquire(90)
    assert first == 90 and budget.held == 90
    waiting = asyncio.ensure_future(budget.acquire(90, timeout=1.0))
    await asyncio.sleep(0)
    assert not waiting.done()  # no room: it waits, its body unread
    held = budget.resize(first, 10)  # the first request turned out small
    assert held == 10 and await waiting == 90 and budget.held == 100
    budget.release(held)
    budget.release(90)
    assert budget.held == 0


async def test_waiters_are_served_in_arrival_order_and_a_timed_out_one_is_refused_and_counted():
    budget = ByteBudget(100, wait_s=0.05)
    held = await budget.acquire(100)
    big = asyncio.ensure_future(budget.acquire(80))
    small = asyncio.ensure_future(budget.acquire(10))
    await asyncio.sleep(0)
    budget.release(30)  # room for the small one, but the big one came first
    await asyncio.sleep(0)
    assert not small.done()
    assert await big == 0 and budget.refused == 1  # no room within wait_s
    assert await small == 10  # granted once the big one gave up its place
    budget.release(70)
    budget.release(10)
    assert budget.held == 0 and held == 100


async def test_a_cancelled_waiter_leaves_nothing_reserved():
    budget = ByteBudget(10)
    held = await budget.acquire(10)
    waiting = asyncio.ensure_future(budget.acquire(5, timeout=5.0))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    budget.release(held)
    assert budget.held == 0 and await budget.acquire(10) == 10


async def test_a_request_larger_than_the_budget_takes_the_whole_budget_not_forever():
    budget = ByteBudget(10)
    assert await budget.acquire(50) == 10
