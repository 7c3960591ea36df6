"""tritonclient against the router of a real fleet: sync, aio and streaming, checked against ONNX Runtime."""

from __future__ import annotations

import asyncio
import collections
import queue
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as tc
import tritonclient.grpc.aio as tc_aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from tritonclient.grpc import service_pb2, service_pb2_grpc

pytestmark = pytest.mark.fleet


def image(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, 3, 64, 64), dtype=np.float32)


def tiny_input(x: np.ndarray) -> tc.InferInput:
    tensor = tc.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x)
    return tensor


def reference(repository, model: str, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(str(repository / model / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def test_server_and_model_metadata(fleet):
    client = tc.InferenceServerClient(fleet.address)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny_cnn") and not client.is_model_ready("resnet152")
    metadata = client.get_model_metadata("transformer")
    assert [(i.name, i.datatype, list(i.shape)) for i in metadata.inputs] == [
        ("input_ids", "INT64", [-1, 64]),
        ("attention_mask", "INT64", [-1, 64]),
    ]
    config = client.get_model_config("tiny_cnn").config
    assert config.max_batch_size == 32 and list(config.input[0].dims) == [3, 64, 64]
    index = client.get_model_repository_index()
    assert {m.name for m in index.models} == fleet.models
    assert client.get_server_metadata().name == "interfleet"


def test_outputs_match_onnxruntime_and_name_the_worker(fleet, repository):
    client = tc.InferenceServerClient(fleet.address)
    x = image(1, seed=3)
    result = client.infer("tiny_cnn", [tiny_input(x)], request_id="req-7")
    expected_logits, expected_probabilities = reference(repository, "tiny_cnn", {"input": x})
    np.testing.assert_allclose(result.as_numpy("logits"), expected_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected_probabilities, rtol=1e-5, atol=1e-6)
    response = result.get_response()
    assert response.id == "req-7"
    assert response.parameters["worker_id"].string_param in fleet.workers_serving("tiny_cnn")


def test_int64_transformer_inputs(fleet, repository):
    client = tc.InferenceServerClient(fleet.address)
    ids = np.random.default_rng(1).integers(0, 8000, (2, 64), dtype=np.int64)
    mask = np.ones((2, 64), dtype=np.int64)
    mask[1, 40:] = 0
    inputs = [tc.InferInput("input_ids", [2, 64], "INT64"), tc.InferInput("attention_mask", [2, 64], "INT64")]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(mask)
    result = client.infer("transformer", inputs)
    (expected, _) = reference(repository, "transformer", {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(result.as_numpy("logits"), expected, rtol=1e-4, atol=1e-5)


def test_batch_of_two_equals_two_single_requests(fleet):
    client = tc.InferenceServerClient(fleet.address)
    x = image(2, seed=5)
    batched = client.infer("tiny_cnn", [tiny_input(x)]).as_numpy("logits")
    singles = [client.infer("tiny_cnn", [tiny_input(x[i : i + 1])]).as_numpy("logits")[0] for i in range(2)]
    np.testing.assert_allclose(batched, np.stack(singles), rtol=1e-5, atol=1e-6)


def test_requested_output_subset(fleet):
    client = tc.InferenceServerClient(fleet.address)
    result = client.infer(
        "tiny_cnn", [tiny_input(image(1))], outputs=[tc.InferRequestedOutput("probabilities")]
    )
    assert result.as_numpy("logits") is None
    assert [o.name for o in result.get_response().outputs] == ["probabilities"]


def test_typed_contents_inputs(fleet, repository):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(fleet.address))
    x = np.random.default_rng(2).random((1, 256), dtype=np.float32)
    request = service_pb2.ModelInferRequest(model_name="mlp", id="typed")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 256]).contents.fp32_contents.extend(x.ravel())
    response = stub.ModelInfer(request, timeout=10)
    logits = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(1, 10)
    np.testing.assert_allclose(logits, reference(repository, "mlp", {"input": x})[0], rtol=1e-5, atol=1e-5)
    assert response.id == "typed"


async def test_least_loaded_uses_every_worker_of_a_model(fleet):
    client = tc_aio.InferenceServerClient(fleet.address)
    tensor = tc_aio.InferInput("input", [1, 256], "FP32")
    tensor.set_data_from_numpy(np.random.default_rng(0).random((1, 256), dtype=np.float32))
    results = await asyncio.gather(*(client.infer("mlp", [tensor], request_id=str(i)) for i in range(60)))
    await client.close()
    assert sorted(int(r.get_response().id) for r in results) == list(range(60))
    served = collections.Counter(r.get_response().parameters["worker_id"].string_param for r in results)
    assert set(served) == {"core0", "core1", "both"}


def test_stream_answers_every_request_and_reports_errors_in_band(fleet):
    client = tc.InferenceServerClient(fleet.address)
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    x = tiny_input(image(1))
    for i in range(20):
        client.async_stream_infer("tiny_cnn", [x], request_id=f"s{i}")
    client.async_stream_infer(
        "tiny_cnn", [tiny_input(np.zeros((1, 3, 32, 32), np.float32))], request_id="bad"
    )
    got = [answers.get(timeout=20) for _ in range(21)]
    client.stop_stream()
    ok = sorted(r.get_response().id for r, e in got if e is None)
    errors = [str(e) for _, e in got if e is not None]
    assert ok == sorted(f"s{i}" for i in range(20))
    assert len(errors) == 1 and "INVALID_ARGUMENT" in errors[0] and "shape [1, 3, 32, 32]" in errors[0]


async def test_aio_stream(fleet):
    client = tc_aio.InferenceServerClient(fleet.address)
    tensor = tc_aio.InferInput("input", [1, 3, 64, 64], "FP32")
    tensor.set_data_from_numpy(image(1))

    async def requests():
        for i in range(10):
            yield {"model_name": "tiny_cnn", "inputs": [tensor], "request_id": f"a{i}"}

    ids = []
    async for result, error in client.stream_infer(requests()):
        assert error is None
        ids.append(result.get_response().id)
        if len(ids) == 10:
            break
    await client.close()
    assert sorted(ids) == sorted(f"a{i}" for i in range(10))


def test_statistics_sum_over_workers(fleet):
    client = tc.InferenceServerClient(fleet.address)
    before = client.get_inference_statistics("tiny_cnn").model_stats[0].inference_count
    for _ in range(5):
        client.infer("tiny_cnn", [tiny_input(image(2))])
    stats = client.get_inference_statistics("tiny_cnn").model_stats[0]
    assert stats.inference_count == before + 10
    assert any(b.batch_size == 2 for b in stats.batch_stats)


def test_health_reflection_and_metrics(fleet):
    channel = grpc.insecure_channel(fleet.address)
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    # No predictor in this fleet: the router serves, and its health says the predictor part does not.
    predictor = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="interfleet.predictor"), timeout=5
    )
    assert predictor.status == health_pb2.HealthCheckResponse.NOT_SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answer = next(
        reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    assert "inference.GRPCInferenceService" in {s.name for s in answer.list_services_response.service}
    tc.InferenceServerClient(fleet.address).infer("tiny_cnn", [tiny_input(image(1))])
    router_metrics = (
        urllib.request.urlopen(f"http://{fleet.router()['metrics']}/metrics", timeout=5).read().decode()
    )
    assert 'nv_inference_request_success{model="tiny_cnn"}' in router_metrics
    assert 'interfleet_router_predictor_version{status="missing"} 0.0' in router_metrics  # none published
    worker_metrics = urllib.request.urlopen(
        f"http://{fleet.worker('core0')['metrics']}/metrics", timeout=5
    ).read()
    assert b"nv_inference_compute_infer_duration_us{" in worker_metrics
    # The metrics port serves /metrics only: nothing mistakes it for a health endpoint.
    with pytest.raises(urllib.error.HTTPError) as other_path:
        urllib.request.urlopen(f"http://{fleet.router()['metrics']}/v2/health/ready", timeout=5)
    assert other_path.value.code == 404


def test_health_subcommand_for_container_health_checks(fleet):
    ok = subprocess.run(
        [sys.executable, "-m", "fleet", "health", "--address", fleet.address],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0 and "SERVING" in ok.stdout
    down = subprocess.run(
        [sys.executable, "-m", "fleet", "health", "--address", "127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert down.returncode == 1 and "UNAVAILABLE" in down.stderr
