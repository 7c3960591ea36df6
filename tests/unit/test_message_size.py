"""The router's message cap comes from the models it can read; one it cannot is reported, not fatal."""

from __future__ import annotations

import logging
import shutil

from interfleet.kserve.message_size import FRAMING_BYTES, largest_request_bytes, message_cap


def test_a_corrupt_model_is_left_out_of_the_cap_and_reported(repository, tmp_path, caplog):
    scratch = tmp_path / "repository"
    shutil.copytree(repository, scratch)
    whole = largest_request_bytes(scratch)
    (scratch / "tiny_cnn" / "model.onnx").write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING):
        without = largest_request_bytes(scratch)
    assert "model tiny_cnn cannot be read" in caplog.text
    # tiny_cnn (32 x 3x64x64 FP32, 1.5 MiB) was the largest; the others still bound the cap.
    assert whole is not None and without is not None and 0 < without < whole
    assert message_cap(scratch, 1 << 30) < 1 << 30 and message_cap(scratch, 1 << 30) > FRAMING_BYTES


def test_one_model_s_request_cap_comes_from_its_published_shapes():
    from interfleet.kserve.message_size import FRAMING_BYTES, VARINT_ALLOWANCE, request_cap
    from interfleet.proto import fleet_pb2

    mlp = fleet_pb2.HostedModel(name="mlp", max_batch_size=32)
    mlp.inputs.add(name="input", datatype="FP32", shape=[-1, 256])
    assert request_cap(mlp) == int(32 * 256 * 4 * VARINT_ALLOWANCE) + FRAMING_BYTES
    unbatched = fleet_pb2.HostedModel(name="nobatch", max_batch_size=0)
    unbatched.inputs.add(name="x", datatype="INT8", shape=[16])
    assert request_cap(unbatched) == int(16 * VARINT_ALLOWANCE) + FRAMING_BYTES
    text = fleet_pb2.HostedModel(name="text", max_batch_size=8)
    text.inputs.add(name="s", datatype="BYTES", shape=[-1, 1])
    assert request_cap(text) is None  # strings have no bound
    ragged = fleet_pb2.HostedModel(name="ragged", max_batch_size=8)
    ragged.inputs.add(name="x", datatype="FP32", shape=[-1, -1])
    assert request_cap(ragged) is None
