"""Interference-aware routing on a real fleet with a real noisy neighbour.

Two workers host the transformer, one pinned to core 0 and one to core 1; an external CPU
stressor spins on core 1. An interference-aware router (the fleet's own) and a round-robin
router beside it serve the same closed-loop stream in turn; the interference-aware one must send
measurably fewer requests to the stressed worker, and explain each answer with its prediction.
The interference marks a router publishes reach a real Redis and label the predictor's rows.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
import tritonclient.grpc.aio as tc_aio
from fleet_harness import Fleet

from fleet.embedded_redis import EmbeddedRedis
from interfleet.proto import fleet_pb2
from interfleet.telemetry.keys import FleetKeys
from interfleet.telemetry.marks import parse_marks
from loadgen.inputs import random_inputs
from predictor.online_rows import RowMaker
from predictor.stressor import start_stressor
from router.interference import InterferenceDetector
from router.interference_marks import MarkPublisher

pytestmark = [
    pytest.mark.fleet,
    pytest.mark.skipif(not {0, 1} <= os.sched_getaffinity(0), reason="needs cores 0 and 1"),
]
ROOT = Path(__file__).resolve().parents[2]
MODEL = "transformer"


async def served_by(
    address: str, seconds: float, callers: int = 4
) -> tuple[collections.Counter, list[float]]:
    """Send back to back from `callers` for `seconds`; count the serving workers."""
    client = tc_aio.InferenceServerClient(address)
    inputs = random_inputs(await client.get_model_metadata(MODEL), np.random.default_rng(0))[0]
    counts: collections.Counter[str] = collections.Counter()
    predicted: list[float] = []
    stop_at = time.monotonic() + seconds

    async def caller():
        while time.monotonic() < stop_at:
            parameters = (await client.infer(MODEL, inputs)).get_response().parameters
            counts[parameters["worker_id"].string_param] += 1
            if "predicted_latency_ms" in parameters:
                predicted.append(parameters["predicted_latency_ms"].double_param)

    await asyncio.gather(*(caller() for _ in range(callers)))
    await client.close()
    return counts, predicted


def test_interference_aware_routes_around_a_stressed_worker(repository, tmp_path):
    fleet = Fleet(
        tmp_path,
        repository,
        [
            {"worker_id": "calm", "cpus": [0], "threads": 1, "models": [MODEL]},
            {"worker_id": "stressed", "cpus": [1], "threads": 1, "models": [MODEL]},
        ],
        router={"policy": "interference-aware"},
        predictor={
            "dataset": str(ROOT / "predictor/data/reference.csv"),
            "initial_model": str(ROOT / "predictor/models/reference.json"),
            "retrain_interval_s": 3600,
        },
    )
    stressors = []
    round_robin = None
    try:
        fleet.start(timeout_s=90)
        round_robin, ready = fleet.start_router(
            "round-robin", ["--policy", "round-robin", "--metrics-port", "-1"]
        )
        rr_address = ready["address"]

        # Three busy threads on core 1: the stressed worker gets about a quarter of its core.
        stressors = [start_stressor("cpu", {1}, duration_s=60) for _ in range(3)]
        asyncio.run(served_by(fleet.address, 4.0))  # long enough for the detector to see it
        aware, predicted = asyncio.run(served_by(fleet.address, 4.0))
        blind, _ = asyncio.run(served_by(rr_address, 4.0))

        aware_share = aware["stressed"] / sum(aware.values())
        blind_share = blind["stressed"] / sum(blind.values())
        assert blind_share == pytest.approx(0.5, abs=0.05)
        assert aware_share < blind_share - 0.15, (aware, blind)
        assert predicted and all(p > 0 for p in predicted)  # every answer carries its prediction
    finally:
        for stressor in stressors:
            stressor.terminate()
            stressor.join()
        if round_robin is not None:
            round_robin.terminate()
            round_robin.wait()
        log = (fleet.log.read_text() if fleet.log.exists() else "")[-3000:]
        assert fleet.stop() == 0, log


async def test_interference_marks_reach_redis_and_label_training_rows(clock, tmp_path):
    detector = InterferenceDetector(clock=clock)
    slowdown = (20.0 + 1.0) / (10.0 + 1.0)  # twice as slow, seen through the detector's 1 ms floor
    for _ in range(100):
        clock.now += 0.02
        detector.observe("calm", 10.0, 10.0)
        detector.observe("stressed", 10.0, 20.0)
    assert detector.interfered("stressed")
    store = EmbeddedRedis(tmp_path / "redis")
    store.start()
    client = aioredis.from_url(store.url)
    keys = FleetKeys("marks")
    try:
        marks = MarkPublisher(client, keys, detector, clock=clock, wall_clock=lambda: 1000.0 + clock.now)
        await marks.publish_once()
        published = parse_marks(await client.hgetall(keys.interference))
        assert set(published) == {"stressed"}
        mark = published["stressed"]
        assert (
            mark.ratio == pytest.approx(slowdown, rel=0.01) and mark.since < 1000.0 + clock.now < mark.until
        )

        rows = RowMaker(lambda name: True)
        state = fleet_pb2.WorkerState(worker_id="stressed")
        state.device.cpu.cpu_set.append(1)
        rows.states["stressed"], rows.marks = state, published
        rows.row(
            fleet_pb2.BatchRecord(
                worker_id="stressed", model=MODEL, batch_size=1, compute_ms=1.0, started_at=mark.since - 60
            )
        )
        labelled = rows.row(
            fleet_pb2.BatchRecord(
                worker_id="stressed", model=MODEL, batch_size=1, compute_ms=2.0, started_at=1000.0 + clock.now
            )
        )
        assert labelled["stress"] == "cpu" and labelled["stress_intensity"] == pytest.approx(
            slowdown - 1, abs=0.01
        )

        for _ in range(300):  # it recovers: the mark is withdrawn
            clock.now += 0.02
            detector.observe("calm", 10.0, 10.0)
            detector.observe("stressed", 10.0, 10.0)
        await marks.publish_once()
        assert await client.hgetall(keys.interference) == {}
    finally:
        await client.aclose()
        store.stop()
