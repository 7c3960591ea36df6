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
