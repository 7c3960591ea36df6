"""`interfleet predictor serve`: keep the fleet's degradation model current from live telemetry.

start: read the seed dataset; publish the shipped model if none is published yet, so routers
have one from the first second. Then, in the background: read the workers' per-batch records
from the Redis stream into training rows (`online_rows`), and every `retrain_interval_s`, once
`min_new_rows` have arrived, fit a candidate on the seed rows plus all but the newest recent
rows, score it and the model in use on those newest rows, and publish it only if it is not
worse (`registry.validate_candidate`). Training runs in a thread; the stream keeps being read.
stop: finish reading, stop the loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import field
from pathlib import Path

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from interfleet.config import config_class, env_aliases
from interfleet.errors import ConfigError
from interfleet.ready_file import write_ready_file
from interfleet.repository import list_models
from interfleet.security.redis_access import redis_client
from interfleet.security.signing import fleet_sealer
from interfleet.supervision import Supervisor
from interfleet.telemetry.heartbeats import HeartbeatReader
from interfleet.telemetry.keys import STREAM_FIELD, STREAM_WORKER_FIELD, FleetKeys
from interfleet.telemetry.marks import MAX_MARKS, parse_marks
from predictor.evaluate import Prepared, fit
from predictor.features import FeatureBuilder, placement_of
from predictor.model import DegradationModel, ModelFormatError
from predictor.online_rows import RowMaker
from predictor.profiler import read_dataset
from predictor.record_checks import DEFAULT_MAX_AGE_S, ReplayGuard, opened
from predictor.registry import ModelWatcher, publish, validate_candidate

log = logging.getLogger(__name__)

ENV_PREFIX = "INTERFLEET_PREDICTOR_"
STATE_EXPIRY_S = 600.0  # a worker's state and interference mark are kept this long for labelling rows
SEED_CHECK_ROWS = 2_000  # seed rows a candidate is also scored on (an even sample)


@config_class
class PredictorConfig:
    redis_url: str | None = field(default=None, metadata=env_aliases("REDIS_URL"))
    redis_password_file: str | None = field(default=None, metadata=env_aliases("REDIS_PASSWORD_FILE"))
    fleet: str = field(default="default", metadata=env_aliases("INTERFLEET_FLEET"))
    model_repository: str = "model_repository"
    dataset: str = "predictor/data/reference.csv"  # seed rows, always part of training
    initial_model: str = "predictor/models/reference.json"
    retrain_interval_s: float = 60.0
    min_new_rows: int = 200
    holdout_fraction: float = 0.2
    tolerance: float = 0.05
    # A candidate must also stay within this (relative) of the model in use on the seed rows,
    # measured profiles no stream can change: so a poisoned stream cannot publish.
    seed_tolerance: float = 0.5
    max_recent_rows: int = 20_000
    # With a fleet CA: a batch record executed longer ago than this (or ahead, by clock skew) is
    # refused as stale, and one seen before as replayed.
    max_record_age_s: float = DEFAULT_MAX_AGE_S
    # With the fleet CA: models are published signed with this certificate's key (the predictor's
    # identity from `interfleet certs`), and workers' states, records and marks are checked.
    fleet_ca: str | None = field(default=None, metadata=env_aliases("INTERFLEET_FLEET_CA"))
    tls_cert: str | None = None
    tls_key: str | None = None
    allowed_workers: tuple[str, ...] = ()  # worker addresses trusted without a signature, as the router's
    ready_file: str | None = None
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not self.redis_url:
            raise ConfigError("the predictor service needs redis_url (or REDIS_URL)")
        if not 0 < self.holdout_fraction < 1:
            raise ConfigError("holdout_fraction must be between 0 and 1")


class PredictorService:
    def __init__(self, config: PredictorConfig):
        self.config = config
        self.keys = FleetKeys(config.fleet)
        self._models = set(list_models(Path(config.model_repository)))
        self.builder = FeatureBuilder(Path(config.model_repository))
        self.rows = RowMaker(lambda name: name in self._models)
        self.recent: collections.deque[dict] = collections.deque(maxlen=config.max_recent_rows)
        self.seed: list[dict] = []
        self._seed_check: tuple[np.ndarray, list[float], list[float]] | None = None
        self.new_rows = 0
        self.skipped_records = 0
        # Heartbeats not trusted and batch records not learnt from: (kind, reason) -> n
        self.refused: collections.Counter = collections.Counter()
        self._replays = ReplayGuard()
        self._client: aioredis.Redis | None = None
        self._current: ModelWatcher | None = None
        self.sealer = fleet_sealer(config.fleet_ca, config.tls_cert, config.tls_key)
        self.supervisor = Supervisor()  # no gRPC health here: its loops' errors are logged and counted
        self._reachable = True
        self._seen: dict[str, float] = {}  # worker id -> when its state was last read (monotonic)
        self._last_id = "0"
        self._read_lock = asyncio.Lock()  # concurrent readers would read from the same id twice

    async def start(self) -> None:
        config = self.config
        if Path(config.dataset).is_file():
            all_seed = read_dataset(Path(config.dataset))
            self.seed = [
                r
                for r in all_seed
                if r["target"] in self._models and all(m in self._models for m, _, _ in r["co_runners"])
            ]
            log.info(
                "seed dataset: %d of %d rows use models in %s",
                len(self.seed),
                len(all_seed),
                config.model_repository,
            )
        self._client = redis_client(
            config.redis_url, config.redis_password_file, socket_timeout=5, socket_connect_timeout=2
        )
        self._heartbeats = HeartbeatReader(
            self._client, self.keys, self.sealer, frozenset(config.allowed_workers), self.refused
        )
        self._current = ModelWatcher(self._client, self.keys, max_age_s=float("inf"), sealer=self.sealer)
        if await self._current.refresh_once() == "missing":
            await self._publish_initial()
        self.supervisor.loop("predictor-reader", self._read_pass)
        self.supervisor.loop(
            "predictor-retrainer", self._retrain_pass, every_s=self.config.retrain_interval_s
        )
        write_ready_file(config.ready_file, version=self._current.version)

    async def _publish_initial(self) -> None:
        path = Path(self.config.initial_model)
        try:
            model = DegradationModel.load(path)
            source = str(path)
        except (OSError, ModelFormatError) as exc:
            if not self.seed:
                log.warning(
                    "no usable initial model (%s) and no seed rows: routers fall back until one is trained",
                    exc,
                )
                return
            model, source = (
                await asyncio.to_thread(fit, Prepared(self.seed, self.builder), self.seed),
                "seed dataset",
            )
        await publish(self._client, self.keys, model, {"source": source}, sealer=self.sealer)
        await self._current.refresh_once()

    async def stop(self, grace: float = 0.0) -> None:
        await self.supervisor.stop()
        if self._client is not None:
            await self._client.aclose()

    async def read_once(self, block_ms: int = 1000) -> int:
        """Read new batch records (and the heartbeats they need); returns how many became rows."""
        async with self._read_lock:
            return await self._read(block_ms)

    async def _read(self, block_ms: int) -> int:
        replies = await self._client.xread({self.keys.batches: self._last_id}, count=5000, block=block_ms)
        if not replies:
            return 0
        await self._refresh_states()
        entries = replies[0][1]
        await self.sealer.prepare(
            self._client, self.keys, (fields.get(STREAM_FIELD) for _, fields in entries)
        )
        added = 0
        for entry_id, fields in entries:
            self._last_id = entry_id
            writer = fields.get(STREAM_WORKER_FIELD, b"").decode(errors="replace")
            blob = fields.get(STREAM_FIELD, b"")
            record, why = opened(
                self.sealer, writer, blob, time.time(), self.config.max_record_age_s, self._replays
            )
            if why is not None:
                self.skipped_records += 1
                self.refused["batch_record", why] += 1
                continue
            row = self.rows.row(record)
            if row is None:
                self.skipped_records += 1
                continue
            self.recent.append(row)
            added += 1
        self.new_rows += added
        return added

    async def _refresh_states(self) -> None:
        # A worker the router would refuse is not read: its records stay unlabelled (skipped).
        for state in await self._heartbeats.read():
            self.rows.states[state.worker_id] = state
            self._seen[state.worker_id] = time.monotonic()
        # Marks only ever extend `until`; keep the latest seen, so a record read after the mark
        # lapsed is still labelled by the window it fell in.
        raw_marks = await self._read_marks()
        await self.sealer.prepare(self._client, self.keys, raw_marks.values())
        marks = parse_marks(raw_marks, self.sealer)
        self.rows.marks.update(marks)
        # Bounded however many distinct ids were ever written: keep the latest-ending MAX_MARKS.
        if len(self.rows.marks) > MAX_MARKS:
            kept = sorted(self.rows.marks.items(), key=lambda item: item[1].until)[-MAX_MARKS:]
            self.rows.marks = dict(kept)
        self._expire_state()

    async def _read_marks(self) -> dict:
        """The interference hash, or its first MAX_MARKS fields when it holds more (a flood)."""
        key = self.keys.interference
        if await self._client.hlen(key) <= MAX_MARKS:
            return await self._client.hgetall(key)
        raw: dict = {}
        async for worker_id, value in self._client.hscan_iter(key, count=1000):
            raw[worker_id] = value
            if len(raw) >= MAX_MARKS:
                break
        return raw

    def _expire_state(self) -> None:
        """Forget workers unseen, and marks ended, for STATE_EXPIRY_S: churned ids must not pile up."""
        now, rows = time.monotonic(), self.rows
        for worker_id in [w for w, seen in self._seen.items() if now - seen > STATE_EXPIRY_S]:
            del self._seen[worker_id]
            rows.states.pop(worker_id, None)
        ended_before = time.time() - STATE_EXPIRY_S
        for worker_id in [w for w, mark in rows.marks.items() if mark.until < ended_before]:
            del rows.marks[worker_id]

    async def retrain_once(self) -> dict | None:
        """Fit, validate and (if it passes) publish a candidate; returns the validation, or None."""
        if self.new_rows < self.config.min_new_rows:
            return None
        recent = list(self.recent)
        cut = int(len(recent) * (1 - self.config.holdout_fraction))
        train, holdout = self.seed + recent[:cut], recent[cut:]
        started = time.monotonic()
        candidate = await asyncio.to_thread(
            fit, Prepared(train, self.builder), train, {"rows": len(train), "recent_rows": cut}
        )
        features = self.builder.matrix([placement_of(r) for r in holdout])
        await self._current.refresh_once()
        validation = validate_candidate(
            candidate,
            self._current.model,
            features,
            [r["solo_ms"] for r in holdout],
            [r["mean_ms"] for r in holdout],
            self.config.tolerance,
        )
        if self.seed and self._current.model is not None:
            features, solo_ms, mean_ms = self._seed_sample()
            on_seed = validate_candidate(
                candidate, self._current.model, features, solo_ms, mean_ms, self.config.seed_tolerance
            )
            validation["seed"] = on_seed
            validation["passed"] = validation["passed"] and on_seed["passed"]
        validation["skipped_records"] = self.skipped_records
        # Why records and heartbeats were not learnt from, e.g. {"batch_record/unsigned": 3}.
        validation["refused"] = {f"{kind}/{reason}": n for (kind, reason), n in sorted(self.refused.items())}
        self.new_rows = 0
        if validation["passed"]:
            version = await publish(self._client, self.keys, candidate, validation, sealer=self.sealer)
            await self._current.refresh_once()
            log.info(
                "retrained on %d rows in %.1f s; published v%d",
                len(train),
                time.monotonic() - started,
                version,
            )
        else:
            seed = validation.get("seed", {})
            log.warning(
                "retrained candidate rejected: MAPE %.3f vs %.3f in use on %d held-out records, "
                "%.3f vs %.3f on the seed rows",
                validation["candidate_mape"],
                validation["current_mape"] or 0.0,
                len(holdout),
                seed.get("candidate_mape", 0.0),
                seed.get("current_mape") or 0.0,
            )
        return validation

    def _seed_sample(self) -> tuple[np.ndarray, list[float], list[float]]:
        """An even sample of the seed rows, as features and latencies: built at the first retrain
        that needs it and kept, since the seed never changes."""
        if self._seed_check is None:
            anchor = self.seed[:: max(1, len(self.seed) // SEED_CHECK_ROWS)]
            self._seed_check = (
                self.builder.matrix([placement_of(r) for r in anchor]),
                [r["solo_ms"] for r in anchor],
                [r["mean_ms"] for r in anchor],
            )
        return self._seed_check

    async def _read_pass(self) -> None:
        try:
            await self.read_once()
            self._reachable = True
        except (RedisError, OSError) as exc:
            if self._reachable:
                log.warning("Redis unreachable (%s); the published model stays as it is", exc)
            self._reachable = False
            await asyncio.sleep(1.0)

    async def _retrain_pass(self) -> None:
        try:
            await self.retrain_once()
        except (RedisError, OSError) as exc:
            log.warning("retraining skipped: Redis unreachable (%s)", exc)
