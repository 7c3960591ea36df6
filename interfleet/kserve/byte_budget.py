"""A bound on the bytes of requests a server holds at once, taken before a request is read.

gRPC-core's windows keep an unread body out of memory (64 KB a stream, `endpoint`), so what a
server holds is what it has read and not yet answered. A call reserves room before its body is
read: the most a request can be (the transport's cap) times `COPIES`, the copies a forwarded
request takes at once (the bytes read, the frame built from them, gRPC's send buffer); once read,
the reservation shrinks to the request's own size times `COPIES`. A call that finds no room waits
(its body stays unread, costing nothing) until room frees or `wait_s` passes, then is refused
RESOURCE_EXHAUSTED. So 600 concurrent 1.5 MiB requests are held at most `limit` bytes' worth at
a time, where they once took a router past its 2 GiB pod limit.

Waiters are served in arrival order; a small request is never overtaken by later ones.
"""

from __future__ import annotations

import asyncio
import collections

COPIES = 3


class ByteBudget:
    def __init__(self, limit: int, wait_s: float = 5.0):
        if limit < 1:
            raise ValueError("a byte budget needs room for at least one byte")
        self.limit = limit
        self.wait_s = wait_s
        self.held = 0
        self.refused = 0
        self._waiters: collections.deque[tuple[int, asyncio.Future]] = collections.deque()

    async def acquire(self, size: int, timeout: float | None = None) -> int:
        """Reserve `size` bytes (at most the whole budget); the bytes reserved, or 0 when no room
        came within `timeout` (default `wait_s`)."""
        size = min(max(size, 1), self.limit)
        if not self._waiters and self.held + size <= self.limit:
            self.held += size
            return size
        granted = asyncio.get_running_loop().create_future()
        entry = (size, granted)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(granted), self.wait_s if timeout is None else timeout)
        except TimeoutError:
            if granted.done():  # granted just as the wait ran out: it is ours
                return size
            self._waiters.remove(entry)
            self.refused += 1
            self._grant()  # this waiter may have been holding back smaller ones behind it
            return 0
        except asyncio.CancelledError:
            if granted.done():
                self.release(size)
            else:
                self._waiters.remove(entry)
                self._grant()
            raise
        return size

    def refusal(self, copies: int, waited_s: float) -> str:
        """Why a call found no room: the message both transports answer with."""
        return (
            f"the server holds its budget of requests ({self.limit / 2**20:.0f} MiB, counting {copies} "
            f"copies each) and none finished within {waited_s:.1f} s; retry later"
        )

    def resize(self, held: int, size: int) -> int:
        """Shrink a reservation of `held` to `size` bytes (never grows it); the bytes now held."""
        size = max(size, 1)
        if size < held:
            self.release(held - size)
            return size
        return held

    def release(self, size: int) -> None:
        self.held -= size
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self.held + self._waiters[0][0] <= self.limit:
            size, granted = self._waiters.popleft()
            self.held += size
            granted.set_result(None)
