"""Publishing this router's interference marks: the workers it finds persistently slower than predicted.

The predictor service reads them to label the batch records those workers produced while
marked, so the outside pressure the router detected flows back into the training data. The
format, and why each mark's `until` lies a few seconds ahead, is `interfleet.telemetry.marks`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redis.exceptions import RedisError

from interfleet.security.signing import Sealer
from interfleet.telemetry.keys import FleetKeys
from interfleet.telemetry.marks import MARK_HASH_TTL_S, InterferenceMark, interference_mark
from router.interference import InterferenceDetector

MARK_TTL_S = 5.0


class MarkPublisher:
    def __init__(
        self,
        client,
        keys: FleetKeys,
        detector: InterferenceDetector,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sealer: Sealer = Sealer(),
    ):
        self._sealer = sealer  # signs each mark for its worker, with this router's key
        self._client = client
        self._keys = keys
        self._detector = detector
        self._clock = clock
        self._wall_clock = wall_clock
        self._published: set[str] = set()

    async def publish_once(self) -> None:
        now, wall = self._clock(), self._wall_clock()
        marks = {
            worker_id: self._sealer.seal(
                interference_mark(worker_id),
                InterferenceMark(e.ratio, wall - (now - e.interfered_since), wall + MARK_TTL_S)
                .encode()
                .encode(),
            )
            for worker_id, e in self._detector.workers.items()
            if e.interfered_since is not None
        }
        cleared = self._published - set(marks)
        if not marks and not cleared:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                if marks:
                    self._sealer.identify(pipe, self._keys)
                    pipe.hset(self._keys.interference, mapping=marks)
                    # Marks outlive no router: the hash goes a while after the last one writes.
                    pipe.expire(self._keys.interference, int(MARK_HASH_TTL_S))
                if cleared:
                    pipe.hdel(self._keys.interference, *cleared)
                await pipe.execute()
        except (RedisError, OSError):
            return  # the fleet watcher reports Redis outages; marks are re-sent next refresh
        self._published = set(marks)
