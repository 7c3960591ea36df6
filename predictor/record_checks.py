"""Which batch records the predictor learns from: a record must be sealed by the worker it names
(with a fleet CA) and physically plausible, or a forged or broken stream could teach it (and,
through the models it publishes, every router) anything. 1,200 forged records once made it
publish a model predicting a 999.7x slowdown; NaN and infinite ones froze retraining.

`refusal` says why a record is not learnt from (a metric label), or None for one that is.
"""

from __future__ import annotations

import math

from google.protobuf.message import DecodeError

from interfleet.proto import fleet_pb2
from interfleet.repository import MAX_BATCH_SIZE
from interfleet.security.signing import BadSignature, Sealer, batch_record

MAX_COMPUTE_MS = 60_000.0  # a minute for one batch: beyond any model a worker serves
MAX_QUEUE_MS = 3_600_000.0


def opened(sealer: Sealer, writer: str, blob: bytes) -> tuple[fleet_pb2.BatchRecord | None, str | None]:
    """The record in `blob`, written by worker `writer`, or None and why it is refused."""
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
    return record, refusal(record)


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
