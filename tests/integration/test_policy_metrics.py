"""Every routing policy's router serves requests and answers a /metrics scrape cleanly.

A scrape runs code that only some policies reach (predictions, the detector, fallbacks), so a
policy whose router cannot be scraped is a policy operators cannot run; each one is started as
a real router process over one real fleet, sent requests with tritonclient, then scraped.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from fleet_harness import Fleet

from router.policies import POLICIES

ROOT = Path(__file__).resolve().parents[2]
# Each policy as the predictor feeds it, plus interference-aware fed the emulator's degradation
# (on CPU workers it has none to give, so every decision is a fallback: that path is scraped too).
VARIANTS = [(name, {}) for name in POLICIES] + [("interference-aware", {"degradation": "emulator"})]


@pytest.fixture(scope="module")
def fleet(repository, tmp_path_factory):
    running = Fleet(
        tmp_path_factory.mktemp("policy-metrics"),
        repository,
        [
            {"worker_id": "w0", "cpus": [0], "threads": 1, "models": ["mlp"]},
            {"worker_id": "w1", "cpus": [1], "threads": 1, "models": ["mlp"]},
        ],
        predictor={
            "dataset": str(ROOT / "predictor/data/reference.csv"),
            "initial_model": str(ROOT / "predictor/models/reference.json"),
            "retrain_interval_s": 3600,
        },
    ).start(timeout_s=90)
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("policy", "settings"), VARIANTS, ids=[f"{p}{'-' + s['degradation'] if s else ''}" for p, s in VARIANTS]
)
def test_every_policy_serves_and_its_metrics_scrape_cleanly(fleet, policy, settings):
    router, ready = fleet.start_router(
        f"{policy}-{len(settings)}", ["--policy", policy, "--metrics-port", "0"], settings
    )
    try:
        client = grpcclient.InferenceServerClient(ready["address"])
        tensor = grpcclient.InferInput("input", [1, 256], "FP32")
        tensor.set_data_from_numpy(np.zeros((1, 256), dtype=np.float32))
        served = {
            client.infer("mlp", [tensor]).get_response().parameters["worker_id"].string_param
            for _ in range(20)
        }
        assert served <= {"w0", "w1"} and served
        with urllib.request.urlopen(f"http://{ready['metrics']}/metrics", timeout=5) as reply:
            assert reply.status == 200
            text = reply.read().decode()
        assert re.search(r'^nv_inference_request_success\w*\{[^}]*model="mlp"[^}]*\} 20\.0$', text, re.M), (
            text
        )
        assert "interfleet_router_policy_fallbacks" in text
        assert router.poll() is None
    finally:
        router.terminate()
        assert router.wait(30) == 0
