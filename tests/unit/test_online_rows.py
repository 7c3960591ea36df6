"""Batch records become training rows only when everything a placement needs is known."""

import pytest

from interfleet.proto import fleet_pb2
from interfleet.telemetry.marks import parse_marks
from predictor.online_rows import RowMaker


def state(worker="w0"):
    s = fleet_pb2.WorkerState(worker_id=worker)
    s.device.cpu.cpu_set.extend([0])
    s.device.cpu.threads = 1
    s.device.cpu.l2_cache_bytes = 1 << 19
    s.load.add(model="mlp", busy_fraction=0.4)
    return s


def record(model="tiny_cnn", co=(), ms=2.0, worker="w0", batch=1):
    return fleet_pb2.BatchRecord(
        worker_id=worker, model=model, batch_size=batch, compute_ms=ms, co_runners=co
    )


def test_rows_need_a_known_worker_a_solo_latency_and_known_models():
    maker = RowMaker(lambda name: name in {"tiny_cnn", "mlp"})
    assert maker.row(record()) is None and maker.skipped["unknown worker"] == 1
    maker.states["w0"] = state()
    assert maker.row(record(co=("mlp",))) is None and maker.skipped["no solo latency yet"] == 1
    assert maker.row(record(model="resnet152")) is None and maker.skipped["model not in the repository"] == 1
    assert maker.row(record(ms=0)) is None and maker.skipped["missing fields"] == 1
    solo = maker.row(record(ms=2.0))
    assert solo["degree"] == 0 and solo["solo_ms"] == 2.0
    colocated = maker.row(record(co=("mlp",), ms=3.0))
    assert colocated["mean_ms"] == 3.0 and colocated["solo_ms"] == 2.0
    assert colocated["co_runners"] == [["mlp", 1, 0.4]]  # load from the worker's heartbeat
    assert colocated["cores"] == 1 and colocated["l2_bytes"] == 1 << 19


def test_records_from_a_worker_marked_interfered_are_labelled_and_never_solo():
    maker = RowMaker(lambda name: name in {"tiny_cnn", "mlp"})
    maker.states["w0"] = state()
    maker.row(
        fleet_pb2.BatchRecord(worker_id="w0", model="tiny_cnn", batch_size=1, compute_ms=2.0, started_at=5.0)
    )
    maker.marks = parse_marks({b"w0": b'{"ratio": 1.6, "since": 10.0, "until": 20.0}', b"w1": b"not json"})
    assert set(maker.marks) == {"w0"}
    during = maker.row(
        fleet_pb2.BatchRecord(worker_id="w0", model="tiny_cnn", batch_size=1, compute_ms=3.2, started_at=15.0)
    )
    assert during["stress"] == "cpu" and during["stress_intensity"] == pytest.approx(0.6)
    assert during["solo_ms"] == 2.0  # the slow lone run did not become the solo latency
    after = maker.row(
        fleet_pb2.BatchRecord(worker_id="w0", model="tiny_cnn", batch_size=1, compute_ms=2.0, started_at=25.0)
    )
    assert after["stress"] == "" and after["stress_intensity"] == 0.0


def test_marks_are_taken_only_signed_by_a_router_and_at_most_max_marks(identities):
    from interfleet.telemetry.marks import MAX_MARKS, InterferenceMark, interference_mark

    router = identities.sealer("router")
    mark = InterferenceMark(1.6, 10.0, 20.0).encode().encode()
    raw = {
        b"w0": router.seal(interference_mark("w0"), mark),
        b"w1": mark,  # unsigned
        b"w2": identities.sealer("worker/*").seal(interference_mark("w2"), mark),  # a worker marking
        b"w3": router.seal(interference_mark("w0"), mark),  # w0's mark under w3's name
        b"w4": identities.foreign.sealer("router").seal(interference_mark("w4"), mark),
    }
    assert set(parse_marks(raw, router)) == {"w0"}
    assert set(parse_marks(raw)) == {"w0", "w1", "w2", "w3", "w4"}  # without a fleet CA nothing is checked
    flood = {f"x{i}".encode(): mark for i in range(MAX_MARKS + 500)}
    assert len(parse_marks(flood)) == MAX_MARKS
