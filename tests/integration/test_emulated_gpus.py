"""Workers on emulated GPUs serve through the real router, and describe their device as emulated.

Two workers, an emulated T4 and an emulated A100, host the same models; a tritonclient request
through the router gets outputs of the model's shapes, and each worker's heartbeat in Redis names
its GPU by the spec sheet, marked emulated, with the solo latency its emulated device gave.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import redis
import tritonclient.grpc.aio as tc_aio
from fleet_harness import Fleet

from interfleet.proto import fleet_pb2
from interfleet.telemetry.keys import FleetKeys
from loadgen.inputs import random_inputs

pytestmark = pytest.mark.fleet
MODELS = ["transformer", "tiny_cnn"]


def test_emulated_gpu_workers_serve_and_describe_their_device(tmp_path, repository):
    emulated = {"emulation_time_scale": 5.0, "emulation_seed": 7}
    fleet = Fleet(
        tmp_path,
        repository,
        workers=[
            {"worker_id": "t4", "models": MODELS, "device": "emulated:T4", **emulated},
            {"worker_id": "a100", "models": MODELS, "device": "emulated:A100", **emulated},
        ],
        router={"policy": "round-robin"},
    ).start()
    try:

        async def ask() -> list[tuple[str, dict]]:
            client = tc_aio.InferenceServerClient(fleet.address)
            answers = []
            for model in MODELS:
                metadata = await client.get_model_metadata(model)
                inputs = random_inputs(metadata, np.random.default_rng(0), batch_size=2)[0]
                for _ in range(2):
                    result = await client.infer(model, inputs)
                    shapes = {o.name: result.as_numpy(o.name).shape for o in metadata.outputs}
                    expected = {o.name: (2, *(int(d) for d in o.shape[1:])) for o in metadata.outputs}
                    assert shapes == expected
                    answers.append((result.get_response().parameters["worker_id"].string_param, shapes))
            await client.close()
            return answers

        answers = asyncio.run(ask())
        assert {worker for worker, _ in answers} == {"t4", "a100"}

        keys = FleetKeys("test")
        client = redis.Redis.from_url(fleet.redis_url)
        states = {}
        for worker_id in ("t4", "a100"):
            state = fleet_pb2.WorkerState()
            state.ParseFromString(client.get(keys.worker_state(worker_id)))
            states[worker_id] = state
        client.close()
        t4, a100 = states["t4"].device, states["a100"].device
        assert t4.name == "emulated:T4" and t4.gpu.emulated and t4.gpu.model == "T4 (emulated)"
        assert (
            a100.gpu.sm_count == 108 and a100.gpu.peak_tflops == 312.0 and a100.gpu.l2_cache_bytes == 40 << 20
        )
        solo = {w: {m.name: m.solo_latency_ms for m in s.models} for w, s in states.items()}
        assert all(ms > 0 for per_model in solo.values() for ms in per_model.values())
    finally:
        fleet.stop()
