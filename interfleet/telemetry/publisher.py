"""The worker's side of telemetry: a heartbeat of its state and the per-batch record stream.

Nothing here is on the request path: executed batches are appended to an in-memory buffer and
`publish_once` (the worker's supervised heartbeat loop calls it every interval) writes them,
together with the heartbeat, in one pipelined round trip. While Redis is unreachable the
worker keeps serving, the buffer keeps the newest records (bounded), and the log says so once
per outage.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from interfleet.proto import fleet_pb2
from interfleet.security.signing import Sealer, batch_record, worker_state
from interfleet.telemetry.keys import STREAM_FIELD, STREAM_WORKER_FIELD, FleetKeys

log = logging.getLogger(__name__)

MAX_RECORDS_PER_FLUSH = 2_000


class TelemetryPublisher:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: FleetKeys,
        worker_id: str,
        state: Callable[[], fleet_pb2.WorkerState],
        interval_s: float,
        ttl_s: float,
        stream_maxlen: int,
        buffer_size: int = 20_000,
        sealer: Sealer = Sealer(),
    ):
        self._client = client
        self._sealer = sealer  # signs the state and records with this worker's key, when it has one
        self._keys = keys
        self._worker_id = worker_id
        self._state = state
        self._interval_s = interval_s
        self._ttl_ms = int(ttl_s * 1000)
        self._stream_maxlen = stream_maxlen
        self._buffer: collections.deque[bytes] = collections.deque(maxlen=buffer_size)
        self._reachable = True
        self.dropped_records = 0

    def record_batch(self, record: fleet_pb2.BatchRecord) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            if not self.dropped_records:
                log.warning(
                    "telemetry buffer full (%d records): the oldest batch records are being dropped "
                    "until Redis is reachable again",
                    self._buffer.maxlen,
                )
            self.dropped_records += 1  # the oldest record gives way
        # Sealed like the heartbeat: a record under this worker's name is only this worker's.
        self._buffer.append(self._sealer.seal(batch_record(self._worker_id), record.SerializeToString()))

    async def deregister(self) -> None:
        """Publish this worker's state once more, now not ready: routers drop it at their next read.

        The state is overwritten, not deleted: a missing state reads as "Redis lost it" and is held
        in routers' views a while (see `router.fleet_view`); a not-ready one is dropped at once.
        """
        await self.publish_once()

    async def stop(self) -> None:
        """Write the batch records still buffered, and disconnect."""
        while self._buffer:
            before = len(self._buffer)
            await self._write(None)
            if len(self._buffer) >= before:
                log.warning("%d batch records not written: Redis unreachable at shutdown", len(self._buffer))
                break
        await self._client.aclose()

    async def publish_once(self) -> None:
        await self._write(self._state())

    async def _write(self, state: fleet_pb2.WorkerState | None) -> None:
        """One pipelined round trip: the heartbeat (when given) and a slice of the buffered records."""
        records = [self._buffer[i] for i in range(min(len(self._buffer), MAX_RECORDS_PER_FLUSH))]
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                if state is not None:
                    self._sealer.identify(pipe, self._keys)
                    blob = self._sealer.seal(worker_state(self._worker_id), state.SerializeToString())
                    pipe.set(self._keys.worker_state(self._worker_id), blob, px=self._ttl_ms)
                    pipe.zadd(self._keys.workers, {self._worker_id: state.heartbeat_at})
                for record in records:
                    pipe.xadd(
                        self._keys.batches,
                        {STREAM_FIELD: record, STREAM_WORKER_FIELD: self._worker_id},
                        maxlen=self._stream_maxlen,
                        approximate=True,
                    )
                await pipe.execute()
        except (RedisError, OSError) as exc:
            if self._reachable:
                log.warning(
                    "Redis unreachable (%s): serving continues, telemetry is buffered (%d records held)",
                    exc,
                    len(self._buffer),
                )
            self._reachable = False
            return
        for _ in records:
            self._buffer.popleft()
        if not self._reachable:
            log.info(
                "Redis reachable again; heartbeat resumed (%d batch records were dropped meanwhile)",
                self.dropped_records,
            )
            self.dropped_records = 0
        self._reachable = True
