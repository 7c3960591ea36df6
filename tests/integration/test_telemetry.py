"""What workers publish to Redis: heartbeats with a TTL and one record per executed batch."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis
import tritonclient.grpc.aio as tc_aio

from interfleet.proto import fleet_pb2
from interfleet.telemetry.keys import STREAM_FIELD, FleetKeys

pytestmark = pytest.mark.fleet
KEYS = FleetKeys("test")


def test_heartbeats_describe_each_worker_and_expire(fleet):
    client = redis.Redis.from_url(fleet.redis_url)
    assert {m.decode() for m in client.zrange(KEYS.workers, 0, -1)} == {"core0", "core1", "both"}
    state = fleet_pb2.WorkerState.FromString(client.get(KEYS.worker_state("both")))
    assert state.ready and state.address == fleet.worker("both")["address"]
    assert list(state.device.cpu.cpu_set) == [0, 1] and state.device.cpu.threads == 2
    assert {m.name for m in state.models} == {"mlp", "transformer"}
    assert {load.model for load in state.load} == {"mlp", "transformer"}
    assert 0 < client.pttl(KEYS.worker_state("both")) <= 1000  # state_ttl_s: 1.0 in the test fleet


async def test_batches_are_recorded_with_their_co_runners(fleet):
    """Two models driven at once on one worker: their batch records name each other as co-runners."""
    client = tc_aio.InferenceServerClient(fleet.worker("core0")["address"])
    ids = tc_aio.InferInput("input_ids", [8, 64], "INT64")
    ids.set_data_from_numpy(np.ones((8, 64), np.int64))
    mask = tc_aio.InferInput("attention_mask", [8, 64], "INT64")
    mask.set_data_from_numpy(np.ones((8, 64), np.int64))
    image = tc_aio.InferInput("input", [8, 3, 64, 64], "FP32")
    image.set_data_from_numpy(np.zeros((8, 3, 64, 64), np.float32))
    since = f"{int(time.time() * 1000)}-0"
    await asyncio.gather(
        *[client.infer("transformer", [ids, mask]) for _ in range(20)],
        *[client.infer("tiny_cnn", [image]) for _ in range(40)],
    )
    await client.close()

    store = redis.Redis.from_url(fleet.redis_url)
    records: list[fleet_pb2.BatchRecord] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and sum(r.batch_size for r in records) < 60 * 8:
        records = [
            fleet_pb2.BatchRecord.FromString(fields[STREAM_FIELD])
            for _, fields in store.xrange(KEYS.batches, min=since)
        ]
        records = [r for r in records if r.worker_id == "core0"]
        await asyncio.sleep(0.1)
    # Every item is accounted for, whether requests ran alone or were batched together.
    assert sum(r.batch_size for r in records) == 60 * 8
    assert all(r.batch_size % 8 == 0 and r.compute_ms > 0 and r.device == "cpu" for r in records)
    overlapped = [r for r in records if r.model == "transformer" and "tiny_cnn" in r.co_runners]
    assert overlapped, "concurrent models on one worker must record each other as co-runners"
