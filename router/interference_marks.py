"""Interference marks in Redis: which workers a router found persistently slower than predicted.

The predictor service reads them to label the batch records those workers produced while
marked, so the outside pressure the router detected flows back into the training data (see
`interfleet.predictor.online_rows`). Each mark carries `until`, a few seconds ahead, extended at
every refresh while the mark lasts, so a mark of a router that died lapses by itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from interfleet.router.interference import InterferenceDetector
from interfleet.telemetry.keys import FleetKeys

MARK_TTL_S = 5.0


class MarkPublisher:
    def __init__(self, client, keys: FleetKeys, detector: InterferenceDetector,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time):
        self._client = client
        self._keys = keys
        self._detector = detector
        self._clock = clock
        self._wall_clock = wall_clock
        self._published: set[str] = set()

    async def publish_once(self) -> None:
        now, wall = self._clock(), self._wall_clock()
        marks = {
            worker_id: json.dumps({"ratio": round(e.ratio, 3), "since": wall - (now - e.interfered_since),
                                   "until": wall + MARK_TTL_S})
            for worker_id, e in self._detector.workers.items() if e.interfered_since is not None
        }
        cleared = self._published - set(marks)
        if not marks and not cleared:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                if marks:
                    pipe.hset(self._keys.interference, mapping=marks)
                if cleared:
                    pipe.hdel(self._keys.interference, *cleared)
                await pipe.execute()
        except (RedisError, OSError):
            return      # the fleet watcher reports Redis outages; marks are re-sent next refresh
        self._published = set(marks)
