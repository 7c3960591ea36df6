"""KServe v2 HTTP bodies to and from gRPC messages: JSON, Triton's binary extension, BYTES, and
a clear InvalidInput for every way a body can be wrong. The bodies are the ones tritonclient.http
itself builds and parses, so the tests speak for its users."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as th
from tritonclient.grpc import service_pb2
from tritonclient.http._infer_result import InferResult
from tritonclient.http._utils import _get_inference_request

from interfleet.errors import InvalidInput
from interfleet.kserve.datatypes import deserialize_bytes, serialize_bytes
from interfleet.kserve.http_tensors import OutputFormat, infer_response_body, parse_infer_body


def client_body(inputs, outputs=None, **kwargs):
    """The body and header length tritonclient.http sends for these inputs."""
    defaults = dict(
        request_id="",
        sequence_id=0,
        sequence_start=False,
        sequence_end=False,
        priority=0,
        timeout=None,
        custom_parameters=None,
    )
    body, header_length = _get_inference_request(inputs=inputs, outputs=outputs, **{**defaults, **kwargs})
    return body, None if header_length is None else str(header_length)


def an_input(name, array, datatype, binary=True):
    tensor = th.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize(
    "array, datatype",
    [
        (np.arange(6, dtype=np.float32).reshape(2, 3) / 7, "FP32"),
        (np.arange(-3, 3, dtype=np.int64).reshape(3, 2), "INT64"),
        (np.array([[True, False]]), "BOOL"),
        (np.arange(4, dtype=np.uint8), "UINT8"),
        (np.array([b"hello", b"", "wörld".encode()], dtype=np.object_), "BYTES"),
    ],
)
def test_a_client_request_becomes_the_grpc_request_with_raw_contents(array, datatype, binary):
    body, header_length = client_body([an_input("x", array, datatype, binary)], request_id="r1", timeout=5000)
    request, output_format = parse_infer_body(body, header_length, "m", "1")
    assert (request.model_name, request.model_version, request.id) == ("m", "1", "r1")
    assert request.parameters["timeout"].int64_param == 5000
    assert output_format.binary_by_default  # no outputs named: tritonclient asks for binary
    (entry,) = request.inputs
    assert (entry.name, entry.datatype, list(entry.shape)) == ("x", datatype, list(array.shape))
    assert "binary_data_size" not in entry.parameters  # HTTP's own, never forwarded
    raw = request.raw_input_contents[0]
    if datatype == "BYTES":
        assert deserialize_bytes(raw, "x") == list(array.reshape(-1))
    else:
        np.testing.assert_array_equal(np.frombuffer(raw, dtype=array.dtype).reshape(array.shape), array)


def test_nested_json_data_is_accepted_like_flat():
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]}]}
    )
    request, _ = parse_infer_body(body.encode(), None, "m")
    assert np.frombuffer(request.raw_input_contents[0], "<i4").tolist() == [1, 2, 3, 4]


def response(outputs: dict[str, np.ndarray], datatypes: dict[str, str]) -> service_pb2.ModelInferResponse:
    message = service_pb2.ModelInferResponse(model_name="m", model_version="1", id="r1")
    message.parameters["worker_id"].string_param = "w0"
    for name, array in outputs.items():
        message.outputs.add(name=name, datatype=datatypes[name], shape=array.shape)
        if datatypes[name] == "BYTES":
            message.raw_output_contents.append(serialize_bytes(list(array.reshape(-1))))
        else:
            message.raw_output_contents.append(array.tobytes())
    return message


@pytest.mark.parametrize("binary", [True, False])
def test_a_response_reads_back_in_tritonclient_as_the_arrays_sent(binary):
    arrays = {
        "scores": np.arange(6, dtype=np.float32).reshape(2, 3) / 3,
        "labels": np.array([[b"cat"], [b"dog"]], dtype=np.object_),
    }
    body, header_length = infer_response_body(
        response(arrays, {"scores": "FP32", "labels": "BYTES"}), OutputFormat(binary_by_default=binary)
    )
    assert (header_length is not None) == binary
    result = InferResult.from_response_body(body, header_length=header_length)
    np.testing.assert_array_equal(result.as_numpy("scores"), arrays["scores"])
    # As from Triton: BYTES come back as bytes in binary, as text in JSON.
    labels = arrays["labels"] if binary else arrays["labels"].astype(str).astype(object)
    np.testing.assert_array_equal(result.as_numpy("labels"), labels)
    assert result.get_response()["parameters"] == {"worker_id": "w0"} and result.get_response()["id"] == "r1"


def test_each_output_may_choose_binary_or_json():
    arrays = {"a": np.ones(2, np.float32), "b": np.zeros(2, np.float32)}
    body, header_length = client_body(
        [an_input("x", np.ones(1, np.float32), "FP32")],
        outputs=[
            th.InferRequestedOutput("a", binary_data=True),
            th.InferRequestedOutput("b", binary_data=False),
        ],
    )
    request, output_format = parse_infer_body(body, header_length, "m")
    assert [o.name for o in request.outputs] == ["a", "b"]
    out, length = infer_response_body(response(arrays, {"a": "FP32", "b": "FP32"}), output_format)
    document = json.loads(out[:length])
    assert "data" not in document["outputs"][0] and document["outputs"][1]["data"] == [0.0, 0.0]


def test_non_text_bytes_asked_for_as_json_say_to_ask_for_binary():
    arrays = {"blob": np.array([b"\xff\xfe"], dtype=np.object_)}
    with pytest.raises(InvalidInput, match="not UTF-8 text: ask for it with binary_data=true"):
        infer_response_body(response(arrays, {"blob": "BYTES"}), OutputFormat())


GOOD = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}


@pytest.mark.parametrize(
    "document, header_length, message",
    [
        (b"{not json", None, "the request's JSON does not parse"),
        (b"[1, 2]", None, "must be a JSON object, not list"),
        (b"{}", None, "needs 'inputs', a non-empty list"),
        ({"inputs": [{**GOOD, "datatype": "FP8"}]}, None, "input 'x': datatype 'FP8' is not one of"),
        ({"inputs": [{**GOOD, "shape": [3]}]}, None, "input 'x': shape [3] needs 3 elements, 'data' has 2"),
        ({"inputs": [{**GOOD, "shape": "2"}]}, None, "input 'x': 'shape' must be a list of integers"),
        ({"inputs": [{**GOOD, "shape": [-2]}]}, None, "has a negative dimension"),
        ({"inputs": [{**GOOD, "data": ["a", "b"]}]}, None, "FP32 data must be numbers"),
        ({"inputs": [{**GOOD, "datatype": "INT8", "data": [1, 300]}]}, None, "outside INT8's range"),
        ({"inputs": [{**GOOD, "datatype": "BOOL", "data": [1, 0]}]}, None, "BOOL data must be true or false"),
        ({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32"}]}, None, "has neither 'data' nor"),
        (
            {"inputs": [GOOD], "parameters": {"p": [1]}},
            None,
            "parameter 'p' must be a boolean, number or string",
        ),
        ({"inputs": [GOOD], "outputs": {"a": 1}}, None, "'outputs' must be a list"),
        ({"inputs": [GOOD]}, "many", "Inference-Header-Content-Length must be an integer"),
        ({"inputs": [GOOD]}, "100000", "Inference-Header-Content-Length is 100000, but the body has"),
        (
            {
                "inputs": [
                    {"name": "x", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
                ]
            },
            "json",
            "binary_data_size 8 runs past the end of the body",
        ),
    ],
)
def test_a_bad_body_is_invalid_input_naming_what_is_wrong(document, header_length, message):
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    if header_length == "json":
        header_length = str(len(body))
    with pytest.raises(InvalidInput) as raised:
        parse_infer_body(body, header_length, "m")
    assert message in raised.value.message


def test_binary_data_no_input_claims_is_refused():
    body, header_length = client_body([an_input("x", np.ones(2, np.float32), "FP32")])
    with pytest.raises(InvalidInput, match="4 bytes of binary data no input claims"):
        parse_infer_body(body + b"\0\0\0\0", header_length, "m")


def test_bytes_contents_that_end_early_are_named():
    with pytest.raises(InvalidInput, match="runs past the end of the contents"):
        deserialize_bytes(b"\x05\x00\x00\x00abc", "output 'y'")
    with pytest.raises(InvalidInput, match="inside an element's 4-byte length"):
        deserialize_bytes(b"\x01\x00", "output 'y'")
