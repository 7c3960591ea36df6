"""Published degradation models in Redis: validated before publishing, loaded by routers live.

A publisher bumps `predictor:version` and stores the model under `predictor:model` with that
version, when it was published and how it validated. Routers poll the version (one small GET),
fetch the model only when it changes, and refuse a model that does not parse or was built for
other features, keeping the one they have and saying why.

Trust: with a fleet CA the stored envelope is signed by the predictor (`interfleet.security.signing`), and a
reader refuses one that is unsigned or wrongly signed; every reader refuses one larger than its
`max_bytes` before fetching it. Refusals are counted by reason and logged.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from collections.abc import Callable, Sequence

import numpy as np
from redis.exceptions import RedisError, WatchError

from interfleet.security.signing import PREDICTOR_MODEL, BadSignature, Sealer
from interfleet.telemetry.keys import FleetKeys
from predictor.model import DegradationModel, ModelFormatError

log = logging.getLogger(__name__)


def holdout_mape(
    model: DegradationModel, features: np.ndarray, solo_ms: np.ndarray, measured_ms: np.ndarray
) -> float:
    predicted = solo_ms * model.predict(features)
    return float(np.mean(np.abs(predicted - measured_ms) / measured_ms))


def validate_candidate(
    candidate: DegradationModel,
    current: DegradationModel | None,
    features: np.ndarray,
    solo_ms: Sequence[float],
    measured_ms: Sequence[float],
    tolerance: float = 0.05,
) -> dict:
    """Score both on held-out recent records; the candidate passes unless it is worse than the
    current model by more than `tolerance` (relative)."""
    solo, measured = np.asarray(solo_ms, dtype=float), np.asarray(measured_ms, dtype=float)
    candidate_mape = holdout_mape(candidate, features, solo, measured)
    current_mape = holdout_mape(current, features, solo, measured) if current is not None else None
    passed = current_mape is None or candidate_mape <= current_mape * (1 + tolerance)
    return {
        "passed": passed,
        "candidate_mape": candidate_mape,
        "current_mape": current_mape,
        "holdout_rows": int(len(measured)),
    }


MAX_MODEL_BYTES = 16 * 1024 * 1024


async def publish(
    client,
    keys: FleetKeys,
    model: DegradationModel,
    validation: dict,
    wall_clock: Callable[[], float] = time.time,
    sealer: Sealer = Sealer(),
) -> int:
    """Store `model` as the next version and return that version number.

    The model and the version change in one transaction (optimistic, retried if another
    publisher got there first), so a reader never sees a version without its model.
    """
    async with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(keys.predictor_version)
                version = int(await pipe.get(keys.predictor_version) or 0) + 1
                envelope = {
                    "version": version,
                    "published_at": wall_clock(),
                    "validation": validation,
                    "model": model.dumps(),
                }
                pipe.multi()
                sealer.identify(pipe, keys)
                pipe.set(keys.predictor_model, sealer.seal(PREDICTOR_MODEL, json.dumps(envelope).encode()))
                pipe.set(keys.predictor_version, version)
                await pipe.execute()
                break
            except WatchError:
                continue
    log.info("published predictor model v%d (%s)", version, validation)
    return version


class ModelWatcher:
    """The router's copy of the newest published model, refreshed in the background.

    `status` is "ok", "missing" (none published), "stale" (older than `max_age_s`) or "failing"
    (the newest could not be used and there is no earlier one); only "ok" should drive routing.
    """

    def __init__(
        self,
        client,
        keys: FleetKeys,
        max_age_s: float = 3600.0,
        wall_clock: Callable[[], float] = time.time,
        sealer: Sealer = Sealer(),
        max_bytes: int = MAX_MODEL_BYTES,
        refused: collections.Counter | None = None,
    ):
        self._client = client
        self._sealer = sealer
        self._max_bytes = max_bytes
        self.refused = refused if refused is not None else collections.Counter()  # (kind, reason) -> n
        self._keys = keys
        self._max_age_s = max_age_s
        self._wall_clock = wall_clock
        self.model: DegradationModel | None = None
        self.version = 0
        self.published_at = 0.0
        self._rejected_version = 0
        # The version key's value last acted on: the key is not signed, so a value that does not
        # match the signed model it points at is read once, not re-parsed on every refresh.
        self._checked_key = 0
        self.last_error = ""

    @property
    def status(self) -> str:
        if self.model is None:
            return "failing" if self._rejected_version else "missing"
        if self._wall_clock() - self.published_at > self._max_age_s:
            return "stale"
        return "ok"

    async def refresh_once(self) -> str:
        before = self.status
        try:
            raw_version = await self._client.get(self._keys.predictor_version)
            newest = int(raw_version) if raw_version is not None else 0
            if newest and newest not in (self.version, self._rejected_version, self._checked_key):
                self._checked_key = newest
                size = await self._client.strlen(self._keys.predictor_model)
                if size > self._max_bytes:
                    self._refuse(newest, "too_large", f"{size} bytes, over the limit of {self._max_bytes}")
                else:
                    blob = await self._client.get(self._keys.predictor_model)
                    await self._sealer.prepare(self._client, self._keys, [blob])
                    self._adopt(newest, blob)
        except (RedisError, OSError, ValueError) as exc:
            self.last_error = f"cannot read the published model: {exc}"
        if self.status != before:
            log.log(
                logging.INFO if self.status == "ok" else logging.WARNING,
                "predictor model status %s -> %s%s",
                before,
                self.status,
                "" if self.status == "ok" else "; routing falls back to least-loaded",
            )
        return self.status

    def _refuse(self, version: int, reason: str, why: str) -> None:
        self.refused["predictor_model", reason] += 1
        self._rejected_version = version
        self.last_error = f"refused predictor model v{version}: {why}"
        kept = f"keeping v{self.version}" if self.model is not None else "no model in use"
        log.error("%s (%s)", self.last_error, kept)

    def _adopt(self, version: int, blob: bytes | None) -> None:
        if blob is not None:
            try:
                blob = self._sealer.open(PREDICTOR_MODEL, blob)
            except BadSignature as exc:
                return self._refuse(version, exc.reason, str(exc))
        try:
            envelope = json.loads(blob) if blob is not None else None
            if not isinstance(envelope, dict) or "model" not in envelope:
                raise ModelFormatError("no model stored under the published version")
            model = DegradationModel.loads(envelope["model"])
            version = int(envelope.get("version", version))  # a newer publish may have landed meanwhile
        except (ModelFormatError, ValueError, TypeError) as exc:
            return self._refuse(version, "unusable", str(exc))
        if self.model is not None and version <= self.version:
            if version < self.version:  # the signed version inside, not the unsigned key, decides
                self._refuse(version, "rollback", f"older than v{self.version} in use")
            return None
        self.model, self.version = model, version
        self.published_at = float(envelope.get("published_at", self._wall_clock()))
        self.last_error = ""
        log.info("loaded predictor model v%d", version)
