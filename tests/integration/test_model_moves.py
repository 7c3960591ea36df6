"""Models move in a live fleet without losing a request: workers load and unload at runtime, the
planner service places and removes models, and the router serves Triton's repository API for it,
through unmodified tritonclient."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from fleet_harness import Fleet, wait_until
from tritonclient.utils import InferenceServerException

from interfleet.proto import fleet_pb2, fleet_pb2_grpc

pytestmark = pytest.mark.fleet

WORKERS = [
    {"worker_id": "core0", "cpus": [0], "threads": 1, "models": ["tiny_cnn", "mlp"]},
    {"worker_id": "core1", "cpus": [1], "threads": 1, "models": ["tiny_cnn"]},
]


@pytest.fixture(scope="module")
def fleet(repository, tmp_path_factory):
    running = Fleet(
        tmp_path_factory.mktemp("moves"),
        repository,
        WORKERS,
        shared={
            "planner": {
                "replan": False,
                "drain_s": 1.0,
                "refresh_interval_s": 0.2,
                "port": 0,
                "metrics_port": 0,
            }
        },
    ).start()
    yield running
    running.stop()


def mlp_input() -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("input", [1, 256], "FP32")
    tensor.set_data_from_numpy(np.random.default_rng(0).standard_normal((1, 256), dtype=np.float32))
    return tensor


def index(client: grpcclient.InferenceServerClient) -> dict[str, tuple[str, str]]:
    reply = client.get_model_repository_index(as_json=True)
    return {m["name"]: (m.get("state", ""), m.get("reason", "")) for m in reply.get("models", [])}


def worker_state(fleet: Fleet, worker_id: str) -> fleet_pb2.WorkerState:
    with grpc.insecure_channel(fleet.worker(worker_id)["address"]) as channel:
        return fleet_pb2_grpc.WorkerControlStub(channel).GetState(fleet_pb2.GetStateRequest(), timeout=5)


def test_the_repository_api_loads_and_unloads_a_model_fleet_wide(fleet):
    client = grpcclient.InferenceServerClient(fleet.address)
    assert index(client)["tiny_cnn"] == ("READY", "")
    assert "transformer" not in index(client)

    client.load_model("transformer")  # returns once a worker serves it and the router sees it
    assert client.is_model_ready("transformer")
    assert index(client)["transformer"] == ("READY", "")
    ids = np.ones((1, 64), dtype=np.int64)
    inputs = [
        grpcclient.InferInput("input_ids", [1, 64], "INT64"),
        grpcclient.InferInput("attention_mask", [1, 64], "INT64"),
    ]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(ids)
    assert client.infer("transformer", inputs).as_numpy("logits").shape[0] == 1
    hosts = [
        w for w in ("core0", "core1") if any(m.name == "transformer" for m in worker_state(fleet, w).models)
    ]
    assert len(hosts) == 1  # the planner's default: one replica, on the least busy worker

    client.unload_model("transformer")
    assert index(client)["transformer"] == ("UNAVAILABLE", "unloaded")
    assert not client.is_model_ready("transformer")
    with pytest.raises(InferenceServerException) as refused:
        client.infer("transformer", inputs)
    assert "UNAVAILABLE" in str(refused.value.status())
    assert not any(m.name == "transformer" for m in worker_state(fleet, hosts[0]).models)


def test_the_http_repository_api_does_the_same(fleet):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(fleet.http_address)
    client.load_model("transformer")
    assert client.is_model_ready("transformer")
    client.unload_model("transformer")
    assert not client.is_model_ready("transformer")
    states = {m["name"]: m.get("reason", "") for m in client.get_model_repository_index()}
    assert states["transformer"] == "unloaded"


def test_loading_what_no_repository_has_is_not_found_and_the_fleet_serves_on(fleet):
    client = grpcclient.InferenceServerClient(fleet.address)
    with pytest.raises(InferenceServerException) as missing:
        client.load_model("no_such_model")
    assert "NOT_FOUND" in str(missing.value.status())
    assert "no_such_model" in missing.value.message()
    with pytest.raises(InferenceServerException) as gone:
        client.unload_model("no_such_model")
    assert "NOT_FOUND" in str(gone.value.status())
    assert client.infer("mlp", [mlp_input()]).as_numpy("logits").shape == (1, 10)


def test_a_model_moves_under_load_without_losing_a_request(fleet):
    """mlp moves from core0 to core1 while a client keeps sending it requests: a replica is
    loaded on core1 (through the planner) before core0's drains and unloads; every request is
    answered."""
    failures: list[str] = []
    answered = [0]
    stop = threading.Event()

    def send() -> None:
        client = grpcclient.InferenceServerClient(fleet.address)
        while not stop.is_set():
            try:
                client.infer("mlp", [mlp_input()], client_timeout=10)
                answered[0] += 1
            except InferenceServerException as exc:
                failures.append(f"{exc.status()}: {exc.message()}")

    senders = [threading.Thread(target=send) for _ in range(3)]
    for thread in senders:
        thread.start()
    try:
        time.sleep(1.0)
        planner = fleet_pb2_grpc.PlannerControlStub(
            grpc.insecure_channel(fleet.info_of("planner")["address"])
        )
        placed = planner.Place(fleet_pb2.PlaceRequest(model="mlp", replicas=2), timeout=120)
        assert sorted(placed.workers) == ["core0", "core1"]
        time.sleep(1.0)
        with grpc.insecure_channel(fleet.worker("core0")["address"]) as channel:
            fleet_pb2_grpc.WorkerControlStub(channel).UnloadModel(
                fleet_pb2.UnloadModelRequest(name="mlp", drain_s=1.0), timeout=60
            )
        before = answered[0]
        assert wait_until(lambda: answered[0] > before + 50, 20.0)
    finally:
        stop.set()
        for thread in senders:
            thread.join(timeout=30)
    assert not failures, failures[:5]
    assert answered[0] > 100
    assert not any(m.name == "mlp" for m in worker_state(fleet, "core0").models)
    assert any(m.name == "mlp" for m in worker_state(fleet, "core1").models)
    moves = planner.GetPlan(fleet_pb2.GetPlanRequest(), timeout=5).moves
    assert [(m.action, m.model, m.worker_id, m.outcome) for m in moves][-1] == (
        "load",
        "mlp",
        "core1",
        "done",
    )
