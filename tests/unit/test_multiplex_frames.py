"""The hop's hand-written frames equal what protobuf itself produces, and parse back."""

import grpc
import pytest
from tritonclient.grpc import service_pb2

from interfleet.multiplex import frames
from interfleet.proto import fleet_pb2


def serialized_request(size: int) -> bytes:
    request = service_pb2.ModelInferRequest(model_name="tiny_cnn", id="r1")
    request.inputs.add(name="input", datatype="FP32", shape=[1, size // 4])
    request.raw_input_contents.append(b"\x07" * size)
    return request.SerializeToString()


def test_request_frames_equal_protobuf_encoding_at_every_varint_width():
    for size in (0, 4, 200, 70_000, 3_000_000):  # 1- to 4-byte length varints
        raw = serialized_request(size)
        for tag in (1, 300, 2**40):
            for timeout in (None, 0.25):
                expected = fleet_pb2.InferFrames(
                    frames=[fleet_pb2.InferFrame(tag=tag, request=raw, timeout_s=timeout or 0.0)]
                ).SerializeToString()
                assert frames.request_frame(tag, raw, timeout) == expected


def test_several_entries_make_one_message_in_order():
    raws = [serialized_request(n) for n in (8, 4000, 40)]
    message = frames.join(
        [frames.request_frame(i + 1, raw, 0.5) for i, raw in enumerate(raws)] + [frames.cancel_frame(9)]
    )
    parsed = frames.parse_frames(message)
    assert [f.tag for f in parsed] == [1, 2, 3, 9]
    assert [f.request for f in parsed[:3]] == raws and all(f.timeout_s == 0.5 for f in parsed[:3])
    assert parsed[3].cancel and not parsed[3].request
    assert service_pb2.ModelInferRequest.FromString(parsed[1].request).raw_input_contents[0] == b"\x07" * 4000


def test_replies_carry_responses_untouched_and_errors_with_their_status():
    response = service_pb2.ModelInferResponse(model_name="mlp", id="x")
    response.raw_output_contents.append(b"\x01" * 130)
    raw = response.SerializeToString()
    message = frames.join(
        [
            frames.reply(5, raw),
            frames.error_reply(6, grpc.StatusCode.INVALID_ARGUMENT.value[0], "input 'x' is bad"),
        ]
    )
    expected = fleet_pb2.InferReplies(replies=[fleet_pb2.InferReply(tag=5, response=raw)]).SerializeToString()
    assert frames.reply(5, raw) == expected
    ok, failed = frames.parse_replies(message)
    assert (ok.tag, ok.code, ok.response) == (5, 0, raw)
    assert (failed.tag, failed.code, failed.message) == (6, 3, "input 'x' is bad")


def test_whole_entries_finds_where_a_byte_stream_can_be_cut():
    from interfleet.multiplex import frames

    stream = frames.request_frame(1, b"a" * 300, 0.5) + frames.cancel_frame(2)
    first = len(frames.request_frame(1, b"a" * 300, 0.5))
    assert frames.whole_entries(stream, 1 << 20) == len(stream)
    assert [frames.whole_entries(stream[:cut], 1 << 20) for cut in (0, 1, 2, first - 1)] == [0, 0, 0, 0]
    assert frames.whole_entries(stream[: first + 1], 1 << 20) == first
    assert [f.tag for f in frames.parse_frames(stream[:first])] == [1]
    with pytest.raises(ValueError, match="larger than the 100"):
        frames.whole_entries(stream, 100)
    with pytest.raises(ValueError, match="does not start an entry"):
        frames.whole_entries(b"\x12" + stream, 1 << 20)
