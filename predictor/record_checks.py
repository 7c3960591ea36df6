"""Which batch records the predictor learns from: a record must be sealed by the worker it names
(with a fleet CA) and physically plausible, or a forged or broken stream could teach it (and,
through the models it publishes, every router) anything. 1,200 forged records once made it
publish a model predicting a 999.7x slowdown; NaN and infinite ones froze retraining.

A signed record must also be fresh and new: one executed more than `max_age_s` ago ("stale"),
or the same signed bytes seen again ("replayed", `ReplayGuard`), is not learnt from, so records
copied aside and written back cannot outweigh what the fleet measures now.

`refusal` says why a record is not learnt from (a metric label), or None for one that is.
"""

from __future__ import annotations

import collections
import hashlib
import math

from google.protobuf.message import DecodeError

from interfleet.proto import fleet_pb2
from interfleet.repository import MAX_BATCH_SIZE
from interfleet.security.signing import BadSignature, Sealer, batch_record

MAX_COMPUTE_MS = 60_000.0  # a minute for one batch: beyond any model a worker serves
MAX_QUEUE_MS = 3_600_000.0
# A record reaches the stream within a heartbeat of its batch; ten minutes allows for a
# predictor catching up after a restart.
DEFAULT_MAX_AGE_S = 600.0


class ReplayGuard:
    """The digests of the last `size` signed records taken: one seen again is a replay."""

    def __init__(self, size: int = 100_000):
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._size = size

    def first_time(self, blob: bytes) -> bool:
        digest = hashlib.blake2b(blob, digest_size=16).digest()
        if digest in self._seen:
            return False
        self._seen[digest] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def opened(
    sealer: Sealer,
    writer: str,
    blob: bytes,
    now: float | None = None,
    max_age_s: float = DEFAULT_MAX_AGE_S,
    replays: ReplayGuard | None = None,
) -> tuple[fleet_pb2.BatchRecord | None, str | None]:
    """The record in `blob`, written by worker `writer`, or None and why it is refused. With a
    fleet CA and `now` (unix s), also refused when stale; with `replays`, when seen before."""
    try:
        payload = sealer.open(batch_record(writer), blob)
    except BadSignature as exc:
        return None, exc.reason
    try:
        record = fleet_pb2.BatchRecord.FromString(payload)
    except DecodeError:
        return None, "unparsable"
    if sealer.enabled and record.worker_id != writer:
        return None, "mismatched"
    why = refusal(record)
    if why is None and sealer.enabled:
        if now is not None and not -max_age_s <= now - record.started_at <= max_age_s:
            return None, "stale"
        if replays is not None and not replays.first_time(blob):
            return None, "replayed"
    return record, why


def refusal(record: fleet_pb2.BatchRecord) -> str | None:
    """Why a parsed record is implausible ("implausible"), or None."""
    numbers = (record.compute_ms, record.queue_ms, record.started_at)
    if not all(math.isfinite(x) for x in numbers):
        return "implausible"
    if not (1 <= record.batch_size <= MAX_BATCH_SIZE and 0 < record.compute_ms <= MAX_COMPUTE_MS):
        return "implausible"
    if not 0 <= record.queue_ms <= MAX_QUEUE_MS or record.started_at <= 0:
        return "implausible"
    return None
