"""Reading the workers' heartbeats from Redis, with the one rule for which of them to trust.

The router builds its view of the fleet from them and the predictor labels batch records with
them; both read through `HeartbeatReader`, so a worker the router refuses teaches the predictor
nothing either.

Trust: with a fleet CA, a worker's state must be signed by a worker whose certificate covers
its id (`interfleet.security.signing`) unless its address is in the allow-list; with only an
allow-list, only those addresses are accepted; with neither, every parsable state is. A state
must also name the worker whose key holds it. With a fleet CA a state must also be fresh: its
signed `heartbeat_at` within `max_age_s` of this host's clock (either way, for skew), so a signed
state copied aside and written back later (a replay) cannot keep a dead worker in view.

Bounded work: a pass reads the workers it trusted last time and the newest NEWEST_PER_PASS
registrations, leaves out ids it refused less than RECHECK_REFUSED_S ago, fetches at most a few
unknown signers' certificates, and does not check again a state it refused that has not changed.

A refused state is left out, counted by (kind, reason) in `refused` and logged once, at most
REFUSAL_LINES_PER_MINUTE lines a minute: a flood of junk registrations (ids are chosen by whoever
writes to Redis) is counted in full but cannot flood the log; what was left out of the log is
summed up in one line when the minute turns.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable

import redis.asyncio as aioredis
from google.protobuf.message import DecodeError

from interfleet.proto import fleet_pb2
from interfleet.security.signing import BadSignature, Sealer, unsealed, worker_state
from interfleet.telemetry.keys import FleetKeys

log = logging.getLogger(__name__)

MAX_REFUSALS_REMEMBERED = 10_000
# New registrations looked at per pass (trusted ids are read anyway): a fleet of thousands is
# found within a few passes, and a flood of junk costs a pass little.
NEWEST_PER_PASS = 512
RECHECK_REFUSED_S = 5.0
REFUSAL_LINES_PER_MINUTE = 20
DEFAULT_MAX_AGE_S = 30.0  # heartbeats come every 0.5 s and expire after 3 s: 30 s allows for clock skew
_DISTRUST = {
    "unsigned": "not signed by a fleet service",
    "bad_signature": "its signature does not match its signer's certificate",
    "unknown_signer": "signed by a certificate the fleet CA did not issue (or not published)",
    "not_permitted": "signed by a service that may not speak for this worker",
    "not_allowed": "its address is not in the allow-list",
}


class HeartbeatReader:
    def __init__(
        self,
        client: aioredis.Redis,
        keys: FleetKeys,
        sealer: Sealer = Sealer(),
        allowed: frozenset[str] = frozenset(),
        refused: collections.Counter | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        max_age_s: float = DEFAULT_MAX_AGE_S,
    ):
        self._client = client
        self._keys = keys
        self._sealer = sealer
        self._allowed = allowed
        self.refused = refused if refused is not None else collections.Counter()  # (kind, reason) -> n
        self._refusal_logged: set[tuple[str, str]] = set()
        self._trusted_ids: list[str] = []  # read every pass, however full the index
        # Worker id -> when (self._clock) it was last refused, the state refused (None: refused by
        # the clock, not its bytes) and why.
        self._refusals: dict[str, tuple[float, bytes | None, str]] = {}
        self._clock = clock
        self._wall_clock = wall_clock
        self._max_age_s = max_age_s
        self._window_started = clock()
        self._lines_in_window = 0
        self._unlogged = 0  # refusals left out of the log in the current window

    async def read(self) -> list[fleet_pb2.WorkerState]:
        """Every registered worker's latest trusted state. A worker whose state key has expired
        (it stopped heartbeating) is pruned from the index: whoever reads the index prunes it.
        Raises RedisError or OSError when Redis cannot be reached."""
        # The workers trusted last pass, and the newest NEWEST_PER_PASS registrations: a
        # pass's work stays bounded however many ids whoever can write the index adds (20,000
        # junk ones once took the router's p99 from 9 to 249 ms), and a flood of them can delay
        # finding a new worker but never push a known one out of view.
        newest = await self._client.zrevrange(self._keys.workers, 0, NEWEST_PER_PASS - 1)
        now = self._clock()
        ids = list(dict.fromkeys([*self._trusted_ids, *(i.decode() for i in newest)]))
        # A refused id is read again only RECHECK_REFUSED_S after its refusal: a flood of junk
        # costs a pass its ids, not a fetch and a check of every state each time.
        ids = [i for i in ids if i not in self._refusals or now - self._refusals[i][0] >= RECHECK_REFUSED_S]
        if not ids:
            return []
        blobs = await self._client.mget([self._keys.worker_state(i) for i in ids])
        await self._sealer.prepare(self._client, self._keys, blobs)
        states, expired = [], []
        for worker_id, blob in zip(ids, blobs):
            if blob is None:
                expired.append(worker_id)
                continue
            state = self.trusted(worker_id, blob)
            if state is not None:
                states.append(state)
        self._trusted_ids = [state.worker_id for state in states]
        if expired:
            await self._client.zrem(self._keys.workers, *expired)
        return states

    def trusted(self, worker_id: str, blob: bytes) -> fleet_pb2.WorkerState | None:
        """The worker's state if it parses and may be trusted (see the module docstring)."""
        known = self._refusals.get(worker_id)
        if known is not None and known[1] == blob:  # unchanged since refused: not checked again
            self.refused["worker", known[2]] += 1
            self._refusals[worker_id] = (self._clock(), blob, known[2])
            return None
        vouched, reason = not self._sealer.enabled and not self._allowed, "not_allowed"
        try:
            payload = self._sealer.open(worker_state(worker_id), blob)
            vouched = vouched or self._sealer.enabled
        except BadSignature as exc:
            payload, reason = unsealed(blob), exc.reason
        try:
            state = fleet_pb2.WorkerState.FromString(payload)
        except DecodeError:
            return self._refuse(worker_id, "unparsable", "its state does not parse", blob)
        if not vouched and state.address not in self._allowed:
            return self._refuse(worker_id, reason, f"{_DISTRUST[reason]} (address {state.address})", blob)
        if state.worker_id != worker_id:
            return self._refuse(
                worker_id, "mismatched", f"its state names another worker ({state.worker_id!r})", blob
            )
        if self._sealer.enabled:
            age_s = self._wall_clock() - state.heartbeat_at
            if abs(age_s) > self._max_age_s:
                return self._refuse(
                    worker_id,
                    "stale",
                    f"its signed heartbeat is {age_s:.0f} s {'old' if age_s > 0 else 'in the future'} "
                    f"(more than {self._max_age_s:g} s: a replay, or a clock far off)",
                )
        return state

    def _refuse(self, worker_id: str, reason: str, why: str, blob: bytes | None = None) -> None:
        self.refused["worker", reason] += 1
        if len(self._refusals) >= MAX_REFUSALS_REMEMBERED:
            self._refusals.clear()
        # A stale state is refused by the clock, not its bytes: it is checked again in full.
        self._refusals[worker_id] = (self._clock(), None if reason == "stale" else blob, reason)
        if (worker_id, reason) not in self._refusal_logged:
            if len(self._refusal_logged) >= MAX_REFUSALS_REMEMBERED:  # ids are chosen by whoever writes
                self._refusal_logged.clear()
            self._refusal_logged.add((worker_id, reason))
            self._log_refusal(f"refusing worker {worker_id}: {why}")

    def _log_refusal(self, line: str) -> None:
        now = self._clock()
        if now - self._window_started >= 60.0:
            if self._unlogged:
                log.warning(
                    "%d more worker refusal(s) in the last minute were not logged "
                    "(every refusal is counted in the refused-records metric)",
                    self._unlogged,
                )
            self._window_started, self._lines_in_window, self._unlogged = now, 0, 0
        if self._lines_in_window < REFUSAL_LINES_PER_MINUTE:
            self._lines_in_window += 1
            log.warning("%s", line)
        else:
            self._unlogged += 1
