"""Bad requests get a clear status naming what was wrong; the fleet keeps serving everyone else."""

from __future__ import annotations

import asyncio
import collections
import re

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.fleet


def infer_error(client, model, inputs, **kwargs) -> InferenceServerException:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, inputs, **kwargs)
    return caught.value


def tensor(name, array):
    t = tc.InferInput(name, list(array.shape), tc.np_to_triton_dtype(array.dtype))
    t.set_data_from_numpy(array)
    return t


GOOD = np.zeros((1, 3, 64, 64), np.float32)


@pytest.mark.parametrize(
    "model, inputs, status, message",
    [
        (
            "resnet152",
            [("input", GOOD)],
            "NOT_FOUND",
            "Request for unknown model: 'resnet152' is not found: not served by this fleet",
        ),
        ("tiny_cnn", [("pixels", GOOD)], "INVALID_ARGUMENT", "has no input 'pixels'"),
        (
            "tiny_cnn",
            [("input", GOOD.astype(np.float64))],
            "INVALID_ARGUMENT",
            "datatype FP64 but the model expects FP32",
        ),
        (
            "tiny_cnn",
            [("input", np.zeros((1, 3, 32, 32), np.float32))],
            "INVALID_ARGUMENT",
            r"shape \[1, 3, 32, 32\] does not match the model's \[-1, 3, 64, 64\]",
        ),
        (
            "tiny_cnn",
            [("input", np.zeros((33, 3, 64, 64), np.float32))],
            "INVALID_ARGUMENT",
            "batch size 33 is outside 1..32",
        ),
        (
            "transformer",
            [("input_ids", np.zeros((1, 64), np.int64))],
            "INVALID_ARGUMENT",
            "missing input.*attention_mask",
        ),
    ],
)
def test_bad_request_status_and_message(fleet, model, inputs, status, message):
    client = tc.InferenceServerClient(fleet.address)
    error = infer_error(client, model, [tensor(*i) for i in inputs])
    assert error.status() == f"StatusCode.{status}"
    assert re.search(message, error.message()), error.message()
    # The fleet still serves a good request afterwards.
    assert client.infer("tiny_cnn", [tensor("input", GOOD)]).as_numpy("logits").shape == (1, 10)


def test_unknown_version_and_unimplemented_methods(fleet):
    client = tc.InferenceServerClient(fleet.address)
    error = infer_error(client, "tiny_cnn", [tensor("input", GOOD)], model_version="2")
    assert error.status() == "StatusCode.NOT_FOUND"
    assert "Request for unknown model: 'tiny_cnn' version 2 is not found" in error.message()
    with pytest.raises(InferenceServerException, match="UNIMPLEMENTED"):
        client.get_system_shared_memory_status()


def test_without_a_planner_the_repository_api_says_what_it_needs(fleet):
    """This fleet file has no planner section (the compose stack, which has one, moves models)."""
    client = tc.InferenceServerClient(fleet.address)
    with pytest.raises(InferenceServerException, match="this fleet has no planner") as no_planner:
        client.load_model("tiny_cnn")
    assert no_planner.value.status() == "StatusCode.UNAVAILABLE"


def test_raw_contents_that_do_not_fill_the_shape(fleet):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(fleet.address))
    request = service_pb2.ModelInferRequest(model_name="tiny_cnn")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
    request.raw_input_contents.append(b"\0" * 7680)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (
        "raw_input_contents holds 7680 bytes but shape [1, 3, 64, 64] of FP32 needs 49152"
        in caught.value.details()
    )


def test_unparsable_request_bytes(fleet):
    channel = grpc.insecure_channel(fleet.address)
    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with pytest.raises(grpc.RpcError) as caught:
        call(b"\xff\xff\xff\xff", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid ModelInferRequest" in caught.value.details()


def test_client_deadline_is_honoured(fleet):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(fleet.address))
    request = service_pb2.ModelInferRequest(model_name="tiny_cnn")
    request.inputs.add(name="input", datatype="FP32", shape=[32, 3, 64, 64])
    request.raw_input_contents.append(np.zeros((32, 3, 64, 64), np.float32).tobytes())
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=0.0005)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert stub.ModelInfer(request, timeout=10).model_name == "tiny_cnn"


def test_worker_enforces_a_propagated_deadline(fleet):
    """Straight to a worker with a tiny deadline: it answers DEADLINE_EXCEEDED rather than running late."""
    address = fleet.worker("core0")["address"]
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
    request = service_pb2.ModelInferRequest(model_name="transformer")
    for name in ("input_ids", "attention_mask"):
        request.inputs.add(name=name, datatype="INT64", shape=[16, 64])
        request.raw_input_contents.append(np.ones((16, 64), np.int64).tobytes())
    request.parameters["timeout"].int64_param = 1  # microseconds, Triton's per-request timeout
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_a_burst_beyond_capacity_is_answered_never_silently_cancelled(fleet):
    """3,000 calls at once: each is served or refused with RESOURCE_EXHAUSTED, none CANCELLED by gRPC."""
    request = service_pb2.ModelInferRequest(model_name="mlp")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 256])
    request.raw_input_contents.append(np.zeros((1, 256), np.float32).tobytes())
    payload = request.SerializeToString()
    codes: collections.Counter = collections.Counter()
    async with grpc.aio.insecure_channel(fleet.address) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")

        async def one():
            try:
                await call(payload, timeout=60)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                codes[error.code().name] += 1

        await asyncio.gather(*(one() for _ in range(3000)))
    assert set(codes) <= {"OK", "RESOURCE_EXHAUSTED"}, codes
    assert codes["OK"] > 0 and sum(codes.values()) == 3000


def test_triton_s_words_for_mixed_contents_and_a_version_that_is_not_a_number(fleet):
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(fleet.address))
    request = service_pb2.ModelInferRequest(model_name="mlp")
    entry = request.inputs.add(name="input", datatype="FP32", shape=[1, 256])
    entry.contents.fp32_contents.extend([0.0] * 256)
    request.raw_input_contents.append(b"\0" * 1024)
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(
        "unexpected explicit tensor data for input tensor 'input' for model 'mlp', binary data was already supplied"
    )
    client = tc.InferenceServerClient(fleet.address)
    error = infer_error(client, "mlp", [tensor("input", np.zeros((1, 256), np.float32))], model_version="abc")
    assert error.status() == "StatusCode.NOT_FOUND"
    assert error.message().startswith("failed to get model version from specified version string 'abc'")


def test_a_request_larger_than_any_valid_one_for_its_model_is_refused_before_it_is_forwarded(fleet):
    # mlp's largest valid request is 32 x 256 FP32 (32 KiB); the router's transport cap is the
    # repository's largest (MiBs), so only the per-model bound stops this one.
    stub = service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(fleet.address))
    request = service_pb2.ModelInferRequest(model_name="mlp")
    request.inputs.add(name="input", datatype="FP32", shape=[2048, 256])
    request.raw_input_contents.append(b"\0" * (2048 * 256 * 4))
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "larger than any valid request for model 'mlp'" in caught.value.details()
    assert "not forwarded" in caught.value.details()
