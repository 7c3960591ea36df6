"""The predictor learns only from batch records sealed by the worker they name and physically
plausible: forged, replayed-under-another-name, broken and absurd ones are refused, each with
its reason."""

from __future__ import annotations

import pytest

from interfleet.proto import fleet_pb2
from interfleet.security.signing import Sealer, batch_record
from predictor.record_checks import opened, refusal

FLEET = Sealer(b"fleet key")


def record(**overrides) -> fleet_pb2.BatchRecord:
    fields = dict(worker_id="w0", model="mlp", batch_size=4, compute_ms=2.5, queue_ms=0.3, started_at=1.7e9)
    return fleet_pb2.BatchRecord(**{**fields, **overrides})


def sealed(sealer: Sealer, writer: str, message: fleet_pb2.BatchRecord) -> bytes:
    return sealer.seal(batch_record(writer), message.SerializeToString())


def test_a_record_sealed_by_the_worker_it_names_is_learnt_from():
    got, why = opened(FLEET, "w0", sealed(FLEET, "w0", record()))
    assert why is None and got == record()


@pytest.mark.parametrize(
    "writer, blob, reason",
    [
        ("w0", record().SerializeToString(), "unsigned"),
        ("w0", sealed(Sealer(b"another key"), "w0", record()), "bad_signature"),
        ("w1", sealed(FLEET, "w0", record()), "bad_signature"),  # w0's seal presented as w1's
        ("w1", sealed(FLEET, "w1", record(worker_id="w0")), "mismatched"),  # w1 writing in w0's name
        ("w0", FLEET.seal(batch_record("w0"), b"\xff\x00 not a record"), "unparsable"),
    ],
)
def test_forged_or_misattributed_records_are_refused_with_their_reason(writer, blob, reason):
    assert opened(FLEET, writer, blob) == (None, reason)


@pytest.mark.parametrize(
    "overrides",
    [
        {"compute_ms": float("nan")},
        {"compute_ms": float("inf")},
        {"compute_ms": 0.0},
        {"compute_ms": 1e9},
        {"queue_ms": -1.0},
        {"batch_size": 0},
        {"batch_size": 100_000},
        {"started_at": 0.0},
    ],
)
def test_physically_implausible_records_are_refused(overrides):
    assert refusal(record(**overrides)) == "implausible"
    assert refusal(record()) is None
