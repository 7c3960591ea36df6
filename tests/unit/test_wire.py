"""Byte-level tricks of the router: they must equal what protobuf itself would produce."""

from tritonclient.grpc import service_pb2

from router.servicer import stream_frame
from router.worker_pool import SERVED_BY_PARAMETER, served_by_suffix


def response_with_tensor(size: int) -> service_pb2.ModelInferResponse:
    response = service_pb2.ModelInferResponse(model_name="m", id="r1")
    response.outputs.add(name="logits", datatype="FP32", shape=[1, size // 4])
    response.raw_output_contents.append(b"\x01" * size)
    response.parameters["other"].int64_param = 7
    return response


def test_appended_suffix_adds_the_worker_parameter_and_keeps_everything_else():
    response = response_with_tensor(4000)
    merged = service_pb2.ModelInferResponse.FromString(
        response.SerializeToString() + served_by_suffix("core0")
    )
    assert merged.parameters[SERVED_BY_PARAMETER].string_param == "core0"
    assert merged.parameters["other"].int64_param == 7
    assert merged.raw_output_contents == response.raw_output_contents and merged.id == "r1"


def test_stream_frame_equals_protobuf_encoding():
    for size in (0, 4, 200, 70_000, 3_000_000):  # 1-, 2-, 3- and 4-byte length varints
        raw = response_with_tensor(size).SerializeToString()
        expected = service_pb2.ModelStreamInferResponse(
            infer_response=service_pb2.ModelInferResponse.FromString(raw)
        ).SerializeToString()
        assert stream_frame(raw) == expected
