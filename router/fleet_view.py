"""The router's in-memory view of the fleet, refreshed from Redis in the background.

Nothing on the request path waits on Redis: requests read the latest `FleetView`, an immutable
snapshot swapped in whole by `FleetWatcher`. Redis is where workers are found, never the only
proof they are alive, so the router keeps serving through any Redis trouble:

- unreachable: the router goes on with the last view, and the log says so once per outage;
- restarted empty (or flushed): a worker missing from Redis stays in view until `hold_s` after
  the router last saw its heartbeat advance, by which time a live worker has heartbeated into
  the new Redis. A worker that died is dropped at about the moment its state key would have
  expired anyway (the two clocks start at the same heartbeat);
- a worker that leaves cleanly publishes itself not ready, and is dropped at once.

Trust: with a fleet key, a worker's state must be sealed with it (`interfleet.security.signing`)
unless its address is in the allow-list; with only an allow-list, only those addresses are
accepted. A refused registration is left out of the view, counted by reason and logged once.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from google.protobuf.message import DecodeError
from redis.exceptions import RedisError

from interfleet.proto import fleet_pb2
from interfleet.security.signing import BadSignature, Sealer, unsealed, worker_state
from interfleet.telemetry.keys import FleetKeys

log = logging.getLogger(__name__)

MAX_REFUSALS_REMEMBERED = 10_000
_DISTRUST = {
    "unsigned": "not signed with the fleet key",
    "bad_signature": "its signature does not match the fleet key",
    "not_allowed": "its address is not in the allow-list",
}


@dataclass(frozen=True)
class FleetView:
    workers: dict[str, fleet_pb2.WorkerState] = field(default_factory=dict)
    by_model: dict[str, tuple[str, ...]] = field(default_factory=dict)   # model -> worker ids
    loads: dict[tuple[str, str], fleet_pb2.ModelLoad] = field(default_factory=dict)  # (worker, model)
    solo_ms: dict[tuple[str, str], float] = field(default_factory=dict)   # (worker, model): measured solo
    # (worker, model): (max batch size, latency of a full batch in ms), how fast its queue drains
    full_batch: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, states: Iterable[fleet_pb2.WorkerState]) -> "FleetView":
        workers = {s.worker_id: s for s in states if s.ready}
        by_model: dict[str, list[str]] = {}
        for worker_id in sorted(workers):
            for model in workers[worker_id].models:
                by_model.setdefault(model.name, []).append(worker_id)
        loads = {(s.worker_id, load.model): load for s in workers.values() for load in s.load}
        solo = {(s.worker_id, m.name): m.solo_latency_ms for s in workers.values() for m in s.models}
        full = {(s.worker_id, m.name): (m.max_batch_size, m.full_batch_latency_ms) for s in workers.values()
                for m in s.models}
        return cls(workers, {m: tuple(ids) for m, ids in by_model.items()}, loads, solo, full)


class FleetWatcher:
    """Reads every worker's heartbeat from Redis (`refresh_once`, on the router's schedule) and
    publishes a new view, holding workers Redis lost as the module docstring says."""

    def __init__(
        self,
        client: aioredis.Redis,
        keys: FleetKeys,
        on_view: Callable[[FleetView], None],
        hold_s: float = 3.0,
        sealer: Sealer = Sealer(None),
        allowed: frozenset[str] = frozenset(),
        refused: collections.Counter | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self._client = client
        self._sealer = sealer
        self._allowed = allowed
        self.refused = refused if refused is not None else collections.Counter()   # (kind, reason) -> n
        self._refusal_logged: set[tuple[str, str]] = set()
        self._keys = keys
        self._on_view = on_view
        self._hold_s = hold_s
        self._clock = clock
        self._wall_clock = wall_clock
        self._reachable = True
        # worker id -> (its latest state, when this router first saw that heartbeat)
        self._known: dict[str, tuple[fleet_pb2.WorkerState, float]] = {}
        self._holding = False
        self.last_refresh: float = 0.0    # wall time of the last successful refresh

    async def close(self) -> None:
        await self._client.aclose()

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
            log.info("worker(s) %s missing from Redis (expired, or Redis restarted empty): kept in view "
                     "for up to %.1f s after their last heartbeat", ", ".join(sorted(held)), self._hold_s)
        self._holding = bool(held)
        return [state for state, _ in self._known.values()]

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
            state = self._trusted(worker_id, blob)
            if state is not None:
                states.append(state)
        if expired:
            await self._client.zrem(self._keys.workers, *expired)
        return states

    def _trusted(self, worker_id: str, blob: bytes) -> fleet_pb2.WorkerState | None:
        """The worker's state if it parses and may be trusted (see the module docstring)."""
        vouched, reason = not self._sealer.enabled and not self._allowed, "not_allowed"
        try:
            payload = self._sealer.open(worker_state(worker_id), blob)
            vouched = vouched or self._sealer.enabled
        except BadSignature as exc:
            payload, reason = unsealed(blob), exc.reason
        try:
            state = fleet_pb2.WorkerState.FromString(payload)
        except DecodeError:
            return self._refuse(worker_id, "unparsable", "its state does not parse")
        if not vouched and state.address not in self._allowed:
            return self._refuse(worker_id, reason, f"{_DISTRUST[reason]} (address {state.address})")
        if state.worker_id != worker_id:
            return self._refuse(worker_id, "mismatched", f"its state names another worker ({state.worker_id!r})")
        return state

    def _refuse(self, worker_id: str, reason: str, why: str) -> None:
        self.refused["worker", reason] += 1
        if (worker_id, reason) not in self._refusal_logged:
            if len(self._refusal_logged) >= MAX_REFUSALS_REMEMBERED:   # ids are chosen by whoever writes
                self._refusal_logged.clear()
            self._refusal_logged.add((worker_id, reason))
            log.warning("refusing worker %s: %s", worker_id, why)
