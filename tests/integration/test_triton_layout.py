"""A Triton-layout repository (config.pbtxt, version folders, no config at all) served by a real
fleet, with the calls NVIDIA's client examples make on `simple`, `simple_string`, `simple_int8`,
`simple_nobatch` and `simple_identity`, over gRPC and HTTP; and a model that cannot be loaded
reported UNAVAILABLE with why while the others are served."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import tritonclient.grpc as tc
import tritonclient.http as th
from fleet_harness import Fleet
from triton_models import CLASSES, IMAGE, build_triton_repository, classifier_weights
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from interfleet.kserve.datatypes import deserialize_bytes

pytestmark = pytest.mark.fleet
MODELS = [
    "simple",
    "simple_int8",
    "simple_string",
    "simple_nobatch",
    "simple_identity",
    "simple_autocomplete",
    "densenet_onnx",
]


@pytest.fixture(scope="module")
def triton_fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("triton")
    repository = build_triton_repository(root / "repository")
    (repository / "broken" / "1").mkdir(parents=True)
    (repository / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    fleet = Fleet(root, repository, [{"worker_id": "w0", "models": [*MODELS, "broken"]}]).start()
    yield fleet
    assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


@pytest.fixture(params=["grpc", "http"])
def client(request, triton_fleet):
    if request.param == "grpc":
        return tc, tc.InferenceServerClient(triton_fleet.address)
    return th, th.InferenceServerClient(triton_fleet.http_address)


def inputs(module, arrays: dict[str, np.ndarray], datatype: str):
    tensors = []
    for name, array in arrays.items():
        tensor = module.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


def test_simple_sums_and_differences_int32_and_int8(client):
    module, triton = client
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.ones((1, 16), dtype=np.int32)
    result = triton.infer("simple", inputs(module, {"INPUT0": a, "INPUT1": b}, "INT32"))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), a - b)
    small = a.astype(np.int8)
    result = triton.infer("simple_int8", inputs(module, {"INPUT0": small, "INPUT1": small}, "INT8"))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), small + small)


def test_strings_in_and_out(client):
    module, triton = client
    a = np.array([[str(i) for i in range(16)]], dtype=np.object_)
    b = np.array([["1"] * 16], dtype=np.object_)
    result = triton.infer("simple_string", inputs(module, {"INPUT0": a, "INPUT1": b}, "BYTES"))
    assert [int(x) for x in result.as_numpy("OUTPUT0")[0]] == [i + 1 for i in range(16)]
    assert [int(x) for x in result.as_numpy("OUTPUT1")[0]] == [i - 1 for i in range(16)]
    text = np.array([["héllo wörld".encode()], [b""]], dtype=np.object_)
    echoed = triton.infer("simple_identity", inputs(module, {"INPUT0": text}, "BYTES")).as_numpy("OUTPUT0")
    assert echoed.tolist() == text.tolist()


def test_typed_bytes_contents_are_served_like_raw(triton_fleet):
    import grpc

    request = service_pb2.ModelInferRequest(model_name="simple_identity")
    tensor = request.inputs.add(name="INPUT0", datatype="BYTES", shape=[2, 1])
    tensor.contents.bytes_contents.extend([b"first", b"second"])
    with grpc.insecure_channel(triton_fleet.address) as channel:
        answer = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=10)
    assert deserialize_bytes(answer.raw_output_contents[0], "OUTPUT0") == [b"first", b"second"]


def test_a_model_without_a_batch_axis_takes_and_returns_its_own_shapes(client):
    module, triton = client
    a = np.arange(16, dtype=np.int32)
    result = triton.infer("simple_nobatch", inputs(module, {"INPUT0": a, "INPUT1": a}, "INT32"))
    np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), a + a)
    batched = a.reshape(1, 16)
    with pytest.raises(InferenceServerException, match=r"shape \[1, 16\] does not match the model's \[16\]"):
        triton.infer("simple_nobatch", inputs(module, {"INPUT0": batched, "INPUT1": batched}, "INT32"))


def test_configs_versions_and_autocomplete_as_triton_reports_them(triton_fleet):
    triton = th.InferenceServerClient(triton_fleet.http_address)
    nobatch = triton.get_model_config("simple_nobatch")
    assert nobatch["max_batch_size"] == 0 and nobatch["input"][0]["dims"] == [16]
    assert triton.get_model_metadata("simple_nobatch")["inputs"][0]["shape"] == [16]
    simple = triton.get_model_config("simple")
    assert simple["max_batch_size"] == 8 and simple["parameters"]["slo_ms"]["string_value"] == "50"
    assert triton.get_model_metadata("simple")["inputs"][0]["shape"] == [-1, 16]
    # simple has versions 1 and 2; its version policy asks for 1.
    assert triton.is_model_ready("simple", "1") and not triton.is_model_ready("simple", "2")
    assert triton.get_model_metadata("simple")["versions"] == ["1"]
    # No config.pbtxt: completed from the graph (batching, Triton's default max batch size of 4).
    completed = triton.get_model_config("simple_autocomplete")
    assert completed["max_batch_size"] == 4 and triton.get_model_metadata("simple_autocomplete")[
        "versions"
    ] == ["3"]


def test_a_model_that_cannot_load_is_unavailable_with_why_and_the_rest_are_served(triton_fleet):
    grpc_client = tc.InferenceServerClient(triton_fleet.address)
    index = {m.name: m for m in grpc_client.get_model_repository_index().models}
    assert {n for n, m in index.items() if m.state == "READY"} == set(MODELS)
    assert index["broken"].state == "UNAVAILABLE" and "not a readable ONNX model" in index["broken"].reason
    assert not grpc_client.is_model_ready("broken")
    with pytest.raises(InferenceServerException) as refused:
        grpc_client.infer("broken", inputs(tc, {"INPUT0": np.zeros((1, 16), np.int32)}, "INT32"))
    assert refused.value.status() == "StatusCode.UNAVAILABLE"
    assert "model 'broken' could not be loaded" in refused.value.message()
    assert "broken" in triton_fleet.log.read_text() and "serving the others" in triton_fleet.log.read_text()


def test_exit_on_error_stops_the_worker_as_triton_does_by_default(tmp_path):
    repository = build_triton_repository(tmp_path / "repository")
    (repository / "broken" / "1").mkdir(parents=True)
    (repository / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    fleet = Fleet(
        tmp_path, repository, [{"worker_id": "w0", "models": ["simple", "broken"], "exit_on_error": True}]
    )
    with pytest.raises(RuntimeError, match="did not start"):
        fleet.start(timeout_s=60)
    assert "broken/1/model.onnx: not a readable ONNX model" in fleet.log.read_text()


def test_models_list_shows_both_layouts(tmp_path):
    repository = build_triton_repository(tmp_path / "repository")
    listing = subprocess.run(
        [sys.executable, "-m", "fleet", "models", "list", "--repository", str(repository)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    for model in MODELS:
        assert model in listing.stdout


def test_classification_as_the_image_client_asks_for_it(client):
    module, triton = client
    # What image_client.py reads from the model first: the input's format and dims, no batch axis.
    if module is th:
        config = triton.get_model_config("densenet_onnx")
        assert config["max_batch_size"] == 0 and config["input"][0]["format"] == "FORMAT_NCHW"
        assert config["output"][0]["label_filename"] == "densenet_labels.txt"
    else:
        config = triton.get_model_config("densenet_onnx").config
        assert config.max_batch_size == 0 and config.input[0].format == config.input[0].FORMAT_NCHW
    image = np.random.default_rng(3).random(IMAGE, dtype=np.float32)
    scores = image.reshape(-1) @ classifier_weights()
    best = np.argsort(-scores, kind="stable")[:3]
    result = triton.infer(
        "densenet_onnx",
        inputs(module, {"data_0": image}, "FP32"),
        outputs=[module.InferRequestedOutput("fc6_1", class_count=3)],
    )
    classes = [c.decode() for c in result.as_numpy("fc6_1")]
    assert [c.split(":")[1:] for c in classes] == [[str(i), f"CLASS_{i}"] for i in best]
    assert [float(c.split(":")[0]) for c in classes] == pytest.approx(scores[best], rel=1e-4)
    # More classes than the model has: all of them, best first.
    result = triton.infer(
        "densenet_onnx",
        inputs(module, {"data_0": image}, "FP32"),
        outputs=[module.InferRequestedOutput("fc6_1", class_count=CLASSES + 5)],
    )
    assert result.as_numpy("fc6_1").shape == (CLASSES,)
