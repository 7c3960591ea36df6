"""Keeping the router's view of the fleet current from the workers' heartbeats in Redis.

Redis is where workers are found, never the only proof they are alive, so the router keeps
serving through any Redis trouble:

- unreachable: the router goes on with the last view, and the log says so once per outage;
- restarted empty (or flushed): a worker missing from Redis stays in view until `hold_s` after
  the router last saw its heartbeat advance, by which time a live worker has heartbeated into
  the new Redis. A worker that died is dropped at about the moment its state key would have
  expired anyway (the two clocks start at the same heartbeat);
- a worker that leaves cleanly publishes itself not ready, and is dropped at once.

Which heartbeats are trusted is `interfleet.telemetry.heartbeats`' rule, the predictor's too.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from interfleet.proto import fleet_pb2
from interfleet.security.signing import Sealer
from interfleet.telemetry.heartbeats import DEFAULT_MAX_AGE_S, HeartbeatReader
from interfleet.telemetry.keys import FleetKeys
from router.fleet_view import FleetView

log = logging.getLogger(__name__)


class FleetWatcher:
    """Reads every worker's heartbeat from Redis (`refresh_once`, on the router's schedule) and
    publishes a new view, holding workers Redis lost as the module docstring says."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: FleetKeys,
        on_view: Callable[[FleetView], None],
        hold_s: float = 3.0,
        sealer: Sealer = Sealer(),
        allowed: frozenset[str] = frozenset(),
        refused: collections.Counter | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ):
        self._client = client
        self._heartbeats = HeartbeatReader(
            client, keys, sealer, allowed, refused, wall_clock=wall_clock, max_age_s=max_age_s
        )
        self.refused = self._heartbeats.refused  # (kind, reason) -> n
        self._on_view = on_view
        self._hold_s = hold_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._reachable = True
        # worker id -> (its latest state, when this router first saw that heartbeat)
        self._known: dict[str, tuple[fleet_pb2.WorkerState, float]] = {}
        self._holding = False
        self.last_refresh: float = 0.0  # wall time of the last successful refresh

    async def close(self) -> None:
        await self._client.aclose()

    async def refresh_once(self) -> bool:
        try:
            states = await self._heartbeats.read()
        except (RedisError, OSError) as exc:
            if self._reachable:
                log.warning("Redis unreachable (%s): routing continues on the last view of the fleet", exc)
            self._reachable = False
            return False
        if not self._reachable:
            log.info("Redis reachable again; fleet view refreshed")
        self._reachable = True
        self.last_refresh = self._wall_clock()
        self._on_view(FleetView.of(self._hold(states)))
        return True

    def _hold(self, states: list[fleet_pb2.WorkerState]) -> list[fleet_pb2.WorkerState]:
        """The states read, plus those of workers Redis no longer has whose heartbeat is recent."""
        now = self._clock()
        read = {s.worker_id: s for s in states}
        for worker_id, state in read.items():
            known = self._known.get(worker_id)
            fresh = known is None or state.heartbeat_at != known[0].heartbeat_at
            self._known[worker_id] = (state, now if fresh else known[1])
        missing = [w for w in self._known if w not in read]
        for worker_id in missing:
            if now - self._known[worker_id][1] >= self._hold_s:
                del self._known[worker_id]
        held = [w for w in missing if w in self._known and self._known[w][0].ready]
        if held and not self._holding:
            log.info(
                "worker(s) %s missing from Redis (expired, or Redis restarted empty): kept in view "
                "for up to %.1f s after their last heartbeat",
                ", ".join(sorted(held)),
                self._hold_s,
            )
        self._holding = bool(held)
        return [state for state, _ in self._known.values()]
