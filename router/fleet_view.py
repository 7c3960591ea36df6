"""The router's in-memory view of the fleet, refreshed from Redis in the background.

Nothing on the request path waits on Redis: requests read the latest `FleetView`, an immutable
snapshot swapped in whole by `FleetWatcher`. When Redis is unreachable the router goes on with
the last view, and the log says so once per outage.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError

from interfleet.proto import fleet_pb2
from interfleet.telemetry.keys import FleetKeys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FleetView:
    workers: dict[str, fleet_pb2.WorkerState] = field(default_factory=dict)
    by_model: dict[str, tuple[str, ...]] = field(default_factory=dict)   # model -> worker ids
    loads: dict[tuple[str, str], fleet_pb2.ModelLoad] = field(default_factory=dict)  # (worker, model)
    solo_ms: dict[tuple[str, str], float] = field(default_factory=dict)   # (worker, model): measured solo

    @classmethod
    def of(cls, states: Iterable[fleet_pb2.WorkerState]) -> "FleetView":
        workers = {s.worker_id: s for s in states if s.ready}
        by_model: dict[str, list[str]] = {}
        for worker_id in sorted(workers):
            for model in workers[worker_id].models:
                by_model.setdefault(model.name, []).append(worker_id)
        loads = {(s.worker_id, load.model): load for s in workers.values() for load in s.load}
        solo = {(s.worker_id, m.name): m.solo_latency_ms for s in workers.values() for m in s.models}
        return cls(workers, {m: tuple(ids) for m, ids in by_model.items()}, loads, solo)


class FleetWatcher:
    """Reads every worker's heartbeat from Redis each `interval_s` and publishes a new view."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: FleetKeys,
        interval_s: float,
        on_view: Callable[[FleetView], None],
        wall_clock: Callable[[], float] = time.time,
        also_refresh: Callable[[], Awaitable] | None = None,
    ):
        self._client = client
        self._also_refresh = also_refresh   # e.g. the published predictor model, on the same schedule
        self._keys = keys
        self._interval_s = interval_s
        self._on_view = on_view
        self._wall_clock = wall_clock
        self._task: asyncio.Task | None = None
        self._reachable = True
        self.last_refresh: float = 0.0    # wall time of the last successful refresh

    async def start(self) -> None:
        await self.refresh_once()
        self._task = asyncio.create_task(self._run(), name="fleet-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.aclose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.refresh_once()
            if self._also_refresh is not None:
                await self._also_refresh()

    async def refresh_once(self) -> bool:
        try:
            states = await self._read_states()
        except (RedisError, OSError) as exc:
            if self._reachable:
                log.warning("Redis unreachable (%s): routing continues on the last view of the fleet", exc)
            self._reachable = False
            return False
        if not self._reachable:
            log.info("Redis reachable again; fleet view refreshed")
        self._reachable = True
        self.last_refresh = self._wall_clock()
        self._on_view(FleetView.of(states))
        return True

    async def _read_states(self) -> list[fleet_pb2.WorkerState]:
        ids = [i.decode() for i in await self._client.zrange(self._keys.workers, 0, -1)]
        if not ids:
            return []
        blobs = await self._client.mget([self._keys.worker_state(i) for i in ids])
        states, expired = [], []
        for worker_id, blob in zip(ids, blobs):
            if blob is None:
                expired.append(worker_id)   # its TTL ran out: it stopped heartbeating
                continue
            try:
                states.append(fleet_pb2.WorkerState.FromString(blob))
            except DecodeError:
                log.warning("skipping unparsable state of worker %s", worker_id)
        if expired:
            await self._client.zrem(self._keys.workers, *expired)
        return states
