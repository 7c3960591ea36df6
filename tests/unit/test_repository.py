"""Model configs are validated as strictly as service configs: every bad value named, none bent."""

from __future__ import annotations

import pytest
import yaml

from interfleet.repository import MAX_BATCH_SIZE, RepositoryError, load_spec


def spec_of(tmp_path, config: dict):
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    (folder / "model.onnx").write_bytes(b"not read here")
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return load_spec(tmp_path, "m")


def test_a_valid_config_loads_with_integers_taken_as_milliseconds(tmp_path):
    spec = spec_of(tmp_path, {"name": "m", "slo_ms": 10, "max_batch_size": 4, "family": "mlp"})
    assert (spec.slo_ms, spec.max_batch_size, spec.version) == (10.0, 4, "1")


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"slo_ms": float("nan"), "max_batch_size": 4}, "slo_ms: Input should be a finite number"),
        ({"slo_ms": float("inf"), "max_batch_size": 4}, "slo_ms: Input should be a finite number"),
        ({"slo_ms": 0, "max_batch_size": 4}, "slo_ms: Input should be greater than 0"),
        ({"slo_ms": 10, "max_batch_size": 2.9}, "max_batch_size: Input should be a valid integer (got 2.9)"),
        ({"slo_ms": 10, "max_batch_size": MAX_BATCH_SIZE + 1}, f"less than or equal to {MAX_BATCH_SIZE}"),
        ({"slo_ms": 10, "max_batch_size": -1}, "max_batch_size: Input should be greater than or equal to 0"),
        (
            {"slo_ms": 10, "max_batch_size": 4, "max_batchsize": 8},
            "max_batchsize: Extra inputs are not permitted",
        ),
        ({"max_batch_size": 4}, "slo_ms: Field required"),
        ({"slo_ms": 10, "max_batch_size": 4, "name": "other"}, "does not match its folder 'm'"),
    ],
)
def test_a_bad_config_is_refused_naming_the_file_the_key_and_the_value(tmp_path, config, named):
    with pytest.raises(RepositoryError) as caught:
        spec_of(tmp_path, config)
    assert str(tmp_path / "m" / "config.yaml") in str(caught.value) and named in str(caught.value)


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"")
    (folder / "config.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RepositoryError, match="expected a mapping"):
        load_spec(tmp_path, "m")
