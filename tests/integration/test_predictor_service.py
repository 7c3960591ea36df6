"""The predictor service through a real redis-server, and started by `interfleet up`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import redis.asyncio as aioredis
from fleet_harness import Fleet
from predictor_data import synthetic_rows

from fleet.embedded_redis import EmbeddedRedis
from interfleet.proto import fleet_pb2
from interfleet.telemetry.keys import STREAM_FIELD, FleetKeys
from predictor.evaluate import Prepared, fit
from predictor.features import FeatureBuilder
from predictor.profiler import write_dataset
from predictor.registry import ModelWatcher
from predictor.service import PredictorConfig, PredictorService

pytestmark = pytest.mark.fleet
ROOT = Path(__file__).resolve().parents[2]


def service_config(
    repository, tmp_path, fleet: str, redis_url: str, device: str | None = None
) -> PredictorConfig:
    """A predictor service over a synthetic seed dataset (its rows' device set to `device`, if
    given) and a model fitted on it as the shipped one."""
    seed = synthetic_rows(repository, n=120)
    for row in seed if device else ():
        row["device"] = device
    dataset = tmp_path / "seed.csv"
    write_dataset(seed, dataset, {"source": "test"})
    initial = tmp_path / "initial.json"
    fit(Prepared(seed, FeatureBuilder(repository)), seed, {"rows": len(seed)}).save(initial)
    return PredictorConfig(
        redis_url=redis_url,
        fleet=fleet,
        model_repository=str(repository),
        dataset=str(dataset),
        initial_model=str(initial),
        retrain_interval_s=3600,
        min_new_rows=40,
    )


async def test_a_poisoned_stream_cannot_publish_because_the_seed_rows_disagree(repository, tmp_path):
    # No fleet CA here (records are not signed): the seed check is what stands between a stream
    # claiming absurd slowdowns and a published model every router would route by.
    store = EmbeddedRedis(tmp_path / "redis")
    store.start()
    service = PredictorService(service_config(repository, tmp_path, "poison", store.url))
    client = aioredis.from_url(store.url)
    keys = FleetKeys("poison")
    try:
        await service.start()
        worker = fleet_pb2.WorkerState(worker_id="w0", ready=True)
        worker.device.cpu.cpu_set.extend([0])
        worker.device.cpu.threads = 1
        await client.set(keys.worker_state("w0"), worker.SerializeToString())
        await client.zadd(keys.workers, {"w0": time.time()})
        for i in range(300):  # 1 ms alone, 500 ms beside mlp: a 500x slowdown, told consistently
            co = ["mlp"] if i % 3 else []
            record = fleet_pb2.BatchRecord(
                worker_id="w0",
                model="tiny_cnn",
                batch_size=1,
                compute_ms=500.0 if co else 1.0,
                co_runners=co,
                started_at=time.time(),
            )
            await client.xadd(keys.batches, {STREAM_FIELD: record.SerializeToString()})
        while await service.read_once(block_ms=100):
            pass
        validation = await service.retrain_once()
        assert validation is not None and not validation["passed"], validation
        assert not validation["seed"]["passed"], validation["seed"]
        assert await ModelWatcher(client, keys).refresh_once() == "ok"
        assert int(await client.get(keys.predictor_version)) == 1  # nothing was published
    finally:
        await service.stop()
        await client.aclose()
        store.stop()


async def test_service_publishes_then_retrains_from_the_stream(repository, tmp_path):
    store = EmbeddedRedis(tmp_path / "redis")
    store.start()
    service = PredictorService(service_config(repository, tmp_path, "svc", store.url, device="lab"))
    client = aioredis.from_url(store.url)
    keys = FleetKeys("svc")
    try:
        await service.start()
        watcher = ModelWatcher(client, keys)
        assert await watcher.refresh_once() == "ok" and watcher.version == 1  # the shipped model, at once

        worker = fleet_pb2.WorkerState(worker_id="w0", ready=True)
        worker.device.cpu.cpu_set.extend([0])
        worker.device.cpu.threads = 1
        worker.load.add(model="mlp", busy_fraction=0.8)
        await client.set(keys.worker_state("w0"), worker.SerializeToString())
        await client.zadd(keys.workers, {"w0": time.time()})
        rng = np.random.default_rng(0)
        for i in range(120):
            co = ["mlp"] if i % 3 else []
            ms = 1.0 * (1 + 0.8 * len(co)) * rng.uniform(0.95, 1.05)
            record = fleet_pb2.BatchRecord(
                worker_id="w0",
                model="tiny_cnn",
                batch_size=1,
                compute_ms=ms,
                co_runners=co,
                started_at=time.time(),
            )
            await client.xadd(keys.batches, {STREAM_FIELD: record.SerializeToString()})
        await client.xadd(keys.batches, {STREAM_FIELD: b"\xff\x00 not a record"})
        for broken in (float("nan"), 1e9):  # a NaN, and a billion-millisecond batch: never learnt from
            record = fleet_pb2.BatchRecord(
                worker_id="w0", model="tiny_cnn", batch_size=1, compute_ms=broken, started_at=time.time()
            )
            await client.xadd(keys.batches, {STREAM_FIELD: record.SerializeToString()})
        while await service.read_once(block_ms=100):
            pass
        assert len(service.recent) == 120 and service.skipped_records == 3
        assert service.refused["batch_record", "implausible"] == 2
        assert service.refused["batch_record", "unparsable"] == 1

        validation = await service.retrain_once()
        # The live records follow another law than the seed; retraining learns it, validation sees it.
        assert validation is not None and validation["holdout_rows"] == 24 and validation["passed"]
        assert validation["candidate_mape"] < validation["current_mape"] / 2
        assert await watcher.refresh_once() == "ok" and watcher.version == 2
        assert await service.retrain_once() is None  # nothing new since
    finally:
        await service.stop()
        await client.aclose()
        store.stop()


def test_interfleet_up_starts_the_predictor_and_routers_load_its_model(repository, tmp_path):
    fleet = Fleet(
        tmp_path,
        repository,
        [{"worker_id": "w0", "models": ["tiny_cnn", "mlp"]}],
        predictor={
            "dataset": str(ROOT / "predictor/data/reference.csv"),
            "initial_model": str(ROOT / "predictor/models/reference.json"),
        },
    )
    try:
        fleet.start(timeout_s=90)
        deadline = time.monotonic() + 10
        metrics = ""
        while time.monotonic() < deadline and 'status="ok"' not in metrics:
            metrics = (
                urllib.request.urlopen(f"http://{fleet.router()['metrics']}/metrics", timeout=5)
                .read()
                .decode()
            )
            time.sleep(0.2)
        assert 'interfleet_router_predictor_version{status="ok"} 1.0' in metrics
        checked = subprocess.run(
            [
                sys.executable,
                "-m",
                "fleet",
                "health",
                "--address",
                fleet.address,
                "--service",
                "interfleet.predictor",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert checked.returncode == 0 and "SERVING" in checked.stdout
        assert json.loads((fleet.run_dir / "predictor.ready.json").read_text())["version"] == 1
    finally:
        assert fleet.stop() == 0
