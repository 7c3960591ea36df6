"""The zoo: FLOPs checked by hand, graphs valid for ONNX Runtime 1.31 (IR <= 13)."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from interfleet.repository import load_spec
from interfleet.zoo.architectures import ZOO
from interfleet.zoo.build import build_zoo


def test_tiny_cnn_flops_by_hand():
    model = ZOO["tiny_cnn"]()
    conv1 = 2 * 3 * 3 * 3 * 16 * 32 * 32  # 3->16, 3x3, stride 2: 64x64 -> 32x32
    conv2 = 2 * 16 * 3 * 3 * 32 * 16 * 16  # 16->32, 3x3, stride 2: 32x32 -> 16x16
    fc = 2 * 32 * 10
    assert model.flops_per_sample == conv1 + conv2 + fc
    assert model.parameter_count == (3 * 9 * 16 + 16) + (16 * 9 * 32 + 32) + (32 * 10 + 10)


def test_mlp_flops_by_hand():
    model = ZOO["mlp"]()
    assert model.flops_per_sample == 2 * (256 * 1024 + 1024 * 1024 + 1024 * 10)


@pytest.mark.parametrize("name", ["tiny_cnn", "mlp", "transformer", "mobilenet"])
def test_zoo_models_load_and_run_batched(tmp_path, name):
    build_zoo(tmp_path, [name])
    spec = load_spec(tmp_path, name)
    assert onnx.load(spec.path).ir_version <= 13
    session = ort.InferenceSession(str(spec.path), providers=["CPUExecutionProvider"])
    feeds = {}
    for arg in session.get_inputs():
        shape = [3 if not isinstance(d, int) else d for d in arg.shape]
        feeds[arg.name] = (
            np.ones(shape, np.int64) if "int64" in arg.type else np.random.rand(*shape).astype(np.float32)
        )
    logits, probabilities = session.run(["logits", "probabilities"], feeds)
    assert logits.shape[0] == 3 and np.isfinite(logits).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_models_list_names_a_model_it_cannot_serve_instead_of_crashing(tmp_path):
    import subprocess
    import sys

    (tmp_path / "orphan").mkdir()
    (tmp_path / "orphan" / "model.onnx").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "models", "list", "--repository", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "orphan" in done.stdout and "cannot be served" in done.stdout and "config.yaml" in done.stdout
    assert done.stderr.strip() == f"interfleet models list: 1 model(s) in {tmp_path} cannot be served"
