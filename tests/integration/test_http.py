"""tritonclient.http (sync, gevent-async and aio) and plain HTTP against the router of a real
fleet: the same answers as gRPC, checked against ONNX Runtime, and Triton's HTTP error shapes."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as tc
import tritonclient.http as th
import tritonclient.http.aio as th_aio
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.fleet


def reference(repository, model: str, feeds: dict) -> list[np.ndarray]:
    session = ort.InferenceSession(str(repository / model / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def image_input(x: np.ndarray, binary: bool = True) -> th.InferInput:
    tensor = th.InferInput("input", list(x.shape), "FP32")
    tensor.set_data_from_numpy(x, binary_data=binary)
    return tensor


def http(fleet, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """(status, body) of one plain HTTP request to the router, as curl would make it."""
    request = urllib.request.Request(
        f"http://{fleet.http_address}{path}", data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_health_metadata_config_index_and_statistics_match_grpc(fleet):
    client = th.InferenceServerClient(fleet.http_address)
    grpc_client = tc.InferenceServerClient(fleet.address)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("tiny_cnn") and client.is_model_ready("tiny_cnn", "1")
    assert not client.is_model_ready("resnet152") and not client.is_model_ready("tiny_cnn", "2")
    assert client.get_server_metadata()["name"] == "interfleet"
    metadata = client.get_model_metadata("transformer")
    assert metadata["inputs"] == [
        {"name": "input_ids", "datatype": "INT64", "shape": [-1, 64]},
        {"name": "attention_mask", "datatype": "INT64", "shape": [-1, 64]},
    ]
    assert client.get_model_metadata("transformer", "1") == metadata
    config = client.get_model_config("tiny_cnn")
    assert config["max_batch_size"] == 32 and config["input"][0]["dims"] == [3, 64, 64]
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert config == json.loads(json.dumps(client.get_model_config("tiny_cnn", "1")))  # by version, the same
    index = client.get_model_repository_index()
    assert {m["name"] for m in index} == fleet.models and {m["state"] for m in index} == {"READY"}
    status, body = http(fleet, "POST", "/v2/repository/index", b'{"ready": true}')
    assert status == 200 and {m["name"] for m in json.loads(body)} == fleet.models
    grpc_stats = grpc_client.get_inference_statistics("mlp", as_json=True)
    http_stats = client.get_inference_statistics("mlp")
    assert [s["name"] for s in http_stats["model_stats"]] == ["mlp"]
    assert int(http_stats["model_stats"][0]["inference_count"]) >= int(
        grpc_stats["model_stats"][0].get("inference_count", 0)
    )
    assert {s["name"] for s in client.get_inference_statistics()["model_stats"]} == fleet.models


@pytest.mark.parametrize("binary", [True, False])
def test_inference_matches_onnxruntime_in_binary_and_in_json(fleet, repository, binary):
    client = th.InferenceServerClient(fleet.http_address)
    x = np.random.default_rng(3).random((2, 3, 64, 64), dtype=np.float32)
    outputs = [th.InferRequestedOutput("logits", binary_data=binary)]
    result = client.infer("tiny_cnn", [image_input(x, binary)], outputs=outputs, request_id="h-1")
    (expected,) = reference(repository, "tiny_cnn", {"input": x})[:1]
    np.testing.assert_allclose(result.as_numpy("logits"), expected, rtol=1e-4, atol=1e-5)
    answer = result.get_response()
    assert answer["id"] == "h-1" and answer["model_name"] == "tiny_cnn"
    assert answer["parameters"]["worker_id"] in fleet.workers_serving("tiny_cnn")


def test_int64_inputs_and_every_output_when_none_is_named(fleet, repository):
    client = th.InferenceServerClient(fleet.http_address)
    ids = np.random.default_rng(1).integers(0, 8000, (2, 64), dtype=np.int64)
    mask = np.ones((2, 64), dtype=np.int64)
    inputs = [th.InferInput("input_ids", [2, 64], "INT64"), th.InferInput("attention_mask", [2, 64], "INT64")]
    inputs[0].set_data_from_numpy(ids)
    inputs[1].set_data_from_numpy(mask, binary_data=False)
    result = client.infer("transformer", inputs)
    expected = reference(repository, "transformer", {"input_ids": ids, "attention_mask": mask})
    names = [o["name"] for o in result.get_response()["outputs"]]
    assert len(names) == len(expected)
    for name, array in zip(names, expected):
        np.testing.assert_allclose(result.as_numpy(name), array, rtol=1e-4, atol=1e-4)


def test_compressed_requests_and_responses(fleet, repository):
    client = th.InferenceServerClient(fleet.http_address)
    x = np.random.default_rng(4).random((1, 3, 64, 64), dtype=np.float32)
    for algorithm in ("gzip", "deflate"):
        result = client.infer(
            "tiny_cnn",
            [image_input(x)],
            request_compression_algorithm=algorithm,
            response_compression_algorithm=algorithm,
        )
        np.testing.assert_allclose(
            result.as_numpy("logits"),
            reference(repository, "tiny_cnn", {"input": x})[0],
            rtol=1e-4,
            atol=1e-5,
        )


def test_async_clients_are_served_concurrently(fleet):
    x = np.random.default_rng(5).random((1, 256), dtype=np.float32)

    def mlp_input() -> th.InferInput:
        tensor = th.InferInput("input", [1, 256], "FP32")
        tensor.set_data_from_numpy(x)
        return tensor

    client = th.InferenceServerClient(fleet.http_address, concurrency=8)
    pending = [client.async_infer("mlp", [mlp_input()]) for _ in range(16)]
    first = [p.get_result().as_numpy("logits") for p in pending]
    assert all(np.array_equal(first[0], r) for r in first)

    async def aio() -> list[np.ndarray]:
        async with th_aio.InferenceServerClient(fleet.http_address) as aio_client:
            assert await aio_client.is_server_ready()
            results = await asyncio.gather(*(aio_client.infer("mlp", [mlp_input()]) for _ in range(16)))
            return [r.as_numpy("logits") for r in results]

    assert all(np.array_equal(first[0], r) for r in asyncio.run(aio()))


def test_curl_style_json_request(fleet):
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 256], "datatype": "FP32", "data": [0.5] * 256}]}
    ).encode()
    status, answer = http(fleet, "POST", "/v2/models/mlp/infer", body, {"Content-Type": "application/json"})
    document = json.loads(answer)
    assert status == 200, document
    assert {o["name"]: o["shape"] for o in document["outputs"]} == {
        "logits": [1, 10],
        "probabilities": [1, 10],
    }
    assert sum(next(o for o in document["outputs"] if o["name"] == "probabilities")["data"]) == pytest.approx(
        1.0
    )


@pytest.mark.parametrize(
    "method, path, body, status, message",
    [
        (
            "POST",
            "/v2/models/resnet152/infer",
            b'{"inputs": []}',
            404,
            "Request for unknown model: 'resnet152'",
        ),
        (
            "GET",
            "/v2/models/mlp/versions/2",
            None,
            404,
            "Request for unknown model: 'mlp' version 2 is not found",
        ),
        ("POST", "/v2/models/mlp/infer", b"{not json", 400, "the request's JSON does not parse"),
        (
            "POST",
            "/v2/models/mlp/infer",
            json.dumps(
                {"inputs": [{"name": "input", "shape": [1, 256], "datatype": "FP32", "data": [1.0]}]}
            ).encode(),
            400,
            "input 'input': shape [1, 256] needs 256 elements, 'data' has 1",
        ),
        (
            "POST",
            "/v2/models/mlp/infer",
            json.dumps(
                {"inputs": [{"name": "pixels", "shape": [1, 256], "datatype": "FP32", "data": [1.0] * 256}]}
            ).encode(),
            400,
            "has no input 'pixels'",
        ),
        ("GET", "/v2/no/such/endpoint", None, 404, "Not Found: GET /v2/no/such/endpoint"),
        ("GET", "/v2/models/mlp/infer", None, 405, "Method Not Allowed"),
        ("GET", "/v2/systemsharedmemory/status", None, 501, "system shared memory"),
        ("POST", "/v2/repository/models/mlp/load", b"{}", 503, "this fleet has no planner"),
    ],
)
def test_bad_requests_get_triton_s_status_and_a_json_error_naming_the_problem(
    fleet, method, path, body, status, message
):
    code, answer = http(fleet, method, path, body)
    assert code == status, answer
    assert message in json.loads(answer)["error"]


def test_the_router_keeps_serving_after_bad_requests(fleet):
    for _ in range(3):
        http(fleet, "POST", "/v2/models/mlp/infer", b"\xff" * 1000)
    client = th.InferenceServerClient(fleet.http_address)
    x = np.zeros((1, 256), np.float32)
    tensor = th.InferInput("input", [1, 256], "FP32")
    tensor.set_data_from_numpy(x)
    assert client.infer("mlp", [tensor]).as_numpy("logits").shape == (1, 10)
    with pytest.raises(InferenceServerException, match="Request for unknown model: 'nope' is not found"):
        client.infer("nope", [tensor])
