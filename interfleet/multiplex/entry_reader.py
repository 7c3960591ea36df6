"""Whole entries off a TCP byte stream: what both ends of a frames connection read.

The frames port carries InferFrames / InferReplies entries back to back, each with its own
length (`frames.whole_entries`). A read of the socket may end anywhere, so the reader keeps the
bytes of an entry that has not fully arrived and hands out, per call, every whole entry it has.
"""

from __future__ import annotations

import asyncio

from interfleet.multiplex import frames

READ_BYTES = 1 << 20  # what one read of the socket asks for


class EntryReader:
    def __init__(self, reader: asyncio.StreamReader, limit: int):
        self._reader = reader
        self._limit = limit  # the largest entry accepted
        self._buffer = bytearray()  # bytes of an entry that has not fully arrived yet

    async def next(self) -> bytes | None:
        """The next message of whole entries; None at a clean end of the connection. ValueError
        for bytes that are not entries, an entry over the limit, or an end in the middle of one;
        the socket's own errors (OSError) as they come."""
        buffer = self._buffer
        while True:
            if buffer:
                end = frames.whole_entries(buffer, self._limit)
                if end:
                    message = bytes(buffer[:end])
                    del buffer[:end]
                    return message
            data = await self._reader.read(READ_BYTES)
            if not data:
                if buffer:
                    raise ValueError("the connection ended in the middle of an entry")
                return None
            if not buffer and frames.whole_entries(data, self._limit) == len(data):
                return data  # the usual case, whole entries in one read: no copy
            buffer += data
