"""The predictor learns only from batch records sealed by the worker they name and physically
plausible: forged, replayed-under-another-name, broken and absurd ones are refused, each with
its reason."""

from __future__ import annotations

import pytest

from interfleet.proto import fleet_pb2
from interfleet.security.signing import Sealer, batch_record
from predictor.record_checks import opened, refusal


def record(**overrides) -> fleet_pb2.BatchRecord:
    fields = dict(worker_id="w0", model="mlp", batch_size=4, compute_ms=2.5, queue_ms=0.3, started_at=1.7e9)
    return fleet_pb2.BatchRecord(**{**fields, **overrides})


def sealed(sealer: Sealer, writer: str, message: fleet_pb2.BatchRecord) -> bytes:
    return sealer.seal(batch_record(writer), message.SerializeToString())


def test_a_record_signed_by_the_worker_it_names_is_learnt_from(identities):
    w0 = identities.sealer("worker/w0")
    got, why = opened(w0, "w0", sealed(w0, "w0", record()))
    assert why is None and got == record()


@pytest.mark.parametrize(
    "writer, signer, signed_as, message, reason",
    [
        ("w0", None, "w0", record(), "unsigned"),
        ("w0", "foreign", "w0", record(), "unknown_signer"),  # another fleet's CA
        ("w0", "worker/w1", "w0", record(), "not_permitted"),  # w1's key speaking for w0
        ("w1", "worker/w0", "w0", record(), "not_permitted"),  # w0's record presented as w1's
        ("w1", "worker/*", "w0", record(), "bad_signature"),  # a pool's, signed for w0, shown as w1's
        ("w1", "worker/*", "w1", record(worker_id="w0"), "mismatched"),  # a pool writing in w0's name
        ("w0", "worker/w0", "w0", None, "unparsable"),
    ],
)
def test_forged_or_misattributed_records_are_refused_with_their_reason(
    identities, writer, signer, signed_as, message, reason
):
    reader = identities.sealer("predictor")
    if signer is None:
        blob = record().SerializeToString()
    else:
        writing = identities.foreign.sealer("worker/w0") if signer == "foreign" else identities.sealer(signer)
        payload = message.SerializeToString() if message is not None else b"\xff\x00 not a record"
        blob = writing.seal(batch_record(signed_as), payload)
    assert opened(reader, writer, blob) == (None, reason)


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


def test_a_signed_record_must_be_fresh_and_new(identities):
    from predictor.record_checks import ReplayGuard

    w0, replays = identities.sealer("worker/w0"), ReplayGuard(size=2)
    now = 1.7e9 + 5.0
    fresh = sealed(w0, "w0", record())
    assert opened(w0, "w0", fresh, now, 600.0, replays) == (record(), None)
    assert opened(w0, "w0", fresh, now, 600.0, replays) == (None, "replayed")  # the same bytes again
    assert opened(w0, "w0", sealed(w0, "w0", record()), now + 601.0, 600.0) == (None, "stale")
    assert opened(w0, "w0", sealed(w0, "w0", record()), now - 700.0, 600.0) == (
        None,
        "stale",
    )  # from the future
    for queue_ms in (1.0, 2.0, 3.0):  # the guard is bounded: the oldest digest gives way
        assert opened(w0, "w0", sealed(w0, "w0", record(queue_ms=queue_ms)), now, 600.0, replays)[1] is None
    assert opened(w0, "w0", fresh, now, 600.0, replays) == (record(), None)
