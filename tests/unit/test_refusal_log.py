"""A flood of junk worker registrations is counted in full but logged at a bounded rate."""

from __future__ import annotations

import logging

from interfleet.proto import fleet_pb2
from interfleet.telemetry.heartbeats import REFUSAL_LINES_PER_MINUTE, HeartbeatReader
from interfleet.telemetry.keys import FleetKeys


def test_junk_registrations_are_all_counted_and_logged_at_most_so_many_a_minute(clock, caplog):
    reader = HeartbeatReader(None, FleetKeys("t"), allowed=frozenset({"10.0.0.1:1"}), clock=clock)
    junk = fleet_pb2.WorkerState(address="203.0.113.9:1")
    with caplog.at_level(logging.WARNING):
        for n in range(1000):
            junk.worker_id = f"junk-{n}"
            assert reader.trusted(junk.worker_id, junk.SerializeToString()) is None
        clock.advance(61.0)
        junk.worker_id = "junk-late"
        reader.trusted(junk.worker_id, junk.SerializeToString())
    assert reader.refused["worker", "not_allowed"] == 1001
    refusals = [r for r in caplog.records if r.getMessage().startswith("refusing worker")]
    assert len(refusals) == REFUSAL_LINES_PER_MINUTE + 1  # a full minute's worth, then the late one
    summary = [r.getMessage() for r in caplog.records if "were not logged" in r.getMessage()]
    assert summary == [
        f"{1000 - REFUSAL_LINES_PER_MINUTE} more worker refusal(s) in the last minute were not logged "
        "(every refusal is counted in the refused-records metric)"
    ]


def test_with_a_fleet_ca_a_signed_heartbeat_must_be_fresh(identities):
    from interfleet.security.signing import worker_state

    now = [1_000_000.0]
    sealer = identities.sealer("worker/w0")
    reader = HeartbeatReader(None, FleetKeys("t"), sealer=sealer, wall_clock=lambda: now[0], max_age_s=30.0)

    def sealed(heartbeat_at: float) -> bytes:
        state = fleet_pb2.WorkerState(worker_id="w0", address="10.0.0.1:1", heartbeat_at=heartbeat_at)
        return sealer.seal(worker_state("w0"), state.SerializeToString())

    assert reader.trusted("w0", sealed(now[0] - 1.0)) is not None
    blob = sealed(now[0])
    now[0] += 165.0  # the same sealed state, written back later: a replay
    assert reader.trusted("w0", blob) is None and reader.refused["worker", "stale"] == 1
    assert reader.trusted("w0", sealed(now[0] + 300.0)) is None  # from far in the future too
    assert reader.refused["worker", "stale"] == 2
