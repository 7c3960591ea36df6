"""Adaptive batching on a real worker: bursts are batched, a lone request is not delayed."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
import redis
import tritonclient.grpc as tc
import tritonclient.grpc.aio as tc_aio

from interfleet.proto import fleet_pb2
from interfleet.telemetry.keys import STREAM_FIELD, FleetKeys

pytestmark = pytest.mark.fleet


def image_input(module):
    tensor = module.InferInput("input", [1, 3, 64, 64], "FP32")
    tensor.set_data_from_numpy(np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32))
    return tensor


def batch_counts(address: str) -> dict[int, int]:
    stats = tc.InferenceServerClient(address).get_inference_statistics("tiny_cnn").model_stats[0]
    return {b.batch_size: b.compute_infer.count for b in stats.batch_stats}


async def test_burst_is_served_in_batches_and_outputs_stay_per_request(fleet):
    address = fleet.worker("core1")["address"]  # tiny_cnn with the default (adaptive) batching
    before = batch_counts(address)
    client = tc_aio.InferenceServerClient(address)
    images = [np.random.default_rng(i).random((1, 3, 64, 64), dtype=np.float32) for i in range(64)]

    async def one(i):
        tensor = tc_aio.InferInput("input", [1, 3, 64, 64], "FP32")
        tensor.set_data_from_numpy(images[i])
        return await client.infer("tiny_cnn", [tensor], request_id=str(i))

    results = await asyncio.gather(*(one(i) for i in range(64)))
    await client.close()
    after = batch_counts(address)
    new = {size: after.get(size, 0) - before.get(size, 0) for size in after}
    assert sum(size * n for size, n in new.items()) == 64
    assert any(size > 1 and n > 0 for size, n in new.items()), new
    # Batching must not mix answers up: each request gets the output of its own input.
    sync = tc.InferenceServerClient(address)
    for i in (0, 17, 63):
        tensor = tc.InferInput("input", [1, 3, 64, 64], "FP32")
        tensor.set_data_from_numpy(images[i])
        alone = sync.infer("tiny_cnn", [tensor]).as_numpy("logits")
        batched = next(r for r in results if r.get_response().id == str(i)).as_numpy("logits")
        np.testing.assert_allclose(batched, alone, rtol=1e-4, atol=1e-5)


def test_lone_request_is_not_delayed(fleet):
    address = fleet.worker("core1")["address"]
    client = tc.InferenceServerClient(address)
    time.sleep(1.0)  # idle: the arrival-rate estimate decays
    since = f"{int(time.time() * 1000)}-0"
    client.infer("tiny_cnn", [image_input(tc)])
    store = redis.Redis.from_url(fleet.redis_url)
    records: list[fleet_pb2.BatchRecord] = []
    deadline = time.monotonic() + 3
    while not records and time.monotonic() < deadline:
        records = [
            fleet_pb2.BatchRecord.FromString(f[STREAM_FIELD])
            for _, f in store.xrange(FleetKeys("test").batches, min=since)
        ]
        records = [r for r in records if r.worker_id == "core1" and r.model == "tiny_cnn"]
        time.sleep(0.05)
    assert len(records) == 1 and records[0].batch_size == 1
    assert records[0].queue_ms < 2.0, f"a lone request waited {records[0].queue_ms:.2f} ms before running"
