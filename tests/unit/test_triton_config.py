"""Triton's config.pbtxt read into a ModelSpec: what is taken, what is refused and why, the
version chosen, and the config completed from the graph when there is none."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
from triton_models import build_triton_repository

from interfleet.repository import RepositoryError, list_models, load_spec


@pytest.fixture(scope="module")
def triton_repository(tmp_path_factory) -> Path:
    return build_triton_repository(tmp_path_factory.mktemp("triton"))


def test_every_folder_of_triton_s_layout_is_listed_and_loads(triton_repository):
    names = list_models(triton_repository)
    assert names == sorted(
        [
            "densenet_onnx",
            "simple",
            "simple_autocomplete",
            "simple_identity",
            "simple_int8",
            "simple_nobatch",
            "simple_sequence",
            "simple_string",
        ]
    )
    simple = load_spec(triton_repository, "simple")
    assert (simple.version, simple.max_batch_size, simple.slo_ms) == (
        "1",
        8,
        50.0,
    )  # version_policy specific [1]
    assert simple.path == triton_repository / "simple" / "1" / "model.onnx"
    assert simple.batching == {"policy": "fixed", "max_delay_ms": 0.1}  # dynamic_batching's queue delay
    nobatch = load_spec(triton_repository, "simple_nobatch")
    assert (nobatch.max_batch_size, nobatch.batch_limit, nobatch.batching) == (0, 1, {"policy": "none"})
    identity = load_spec(triton_repository, "simple_identity")
    assert identity.batching == {
        "policy": "none"
    }  # no dynamic_batching: requests run as they come, as Triton
    completed = load_spec(triton_repository, "simple_autocomplete")
    assert (completed.version, completed.max_batch_size, completed.slo_ms) == ("3", 4, 100.0)


def copy_of(triton_repository: Path, tmp_path: Path, model: str = "simple") -> Path:
    import shutil

    shutil.copytree(triton_repository / model, tmp_path / model)
    return tmp_path / model / "config.pbtxt"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c + "\nbogus_field: 3\n", 'has no field named "bogus_field"'),
        (lambda c: c.replace("onnxruntime_onnx", "tensorrt_plan"), "platform 'tensorrt_plan' is not served"),
        (lambda c: c + "\nmodel_transaction_policy { decoupled: true }\n", "decoupled models"),
        (lambda c: c.replace("max_batch_size: 8", "max_batch_size: 5000"), "max_batch_size must be 0..1024"),
        (lambda c: c.replace('name: "simple"', 'name: "other"'), "name 'other' does not match its folder"),
        (
            lambda c: c.replace('"INPUT1" data_type: TYPE_INT32', '"INPUT1" data_type: TYPE_FP32'),
            "is FP32 in the config but INT32",
        ),
        (lambda c: c.replace('name: "INPUT1"', 'name: "INPUT9"'), "input 'INPUT9' is not in the model"),
        (
            lambda c: c.replace("dims: [ 16 ]", "dims: [ 4, 4 ]", 1),
            "has dims [4, 4] in the config but [16]",
        ),
        (
            lambda c: c.replace("max_batch_size: 8", "max_batch_size: 0"),
            "has dims [16] in the config but [-1, 16]",
        ),
        (
            lambda c: c + '\nparameters { key: "slo_ms" value: { string_value: "fast" } }\n',
            "slo_ms must be a number",
        ),
        (
            lambda c: c + '\nparameters { key: "batching" value: { string_value: "magic" } }\n',
            "batching must be one of",
        ),
        (
            lambda c: c.replace("versions: [ 1 ]", "versions: [ 7 ]"),
            "that the version policy allows (present: [1, 2])",
        ),
    ],
)
def test_a_config_that_cannot_work_is_refused_naming_the_file_and_the_problem(
    triton_repository, tmp_path, edit, message
):
    config = copy_of(triton_repository, tmp_path)
    config.write_text(edit(config.read_text()))
    with pytest.raises(RepositoryError) as refused:
        load_spec(tmp_path, "simple")
    assert message in str(refused.value) and "simple" in str(refused.value)


def test_the_newest_version_is_served_by_default_and_the_adaptive_batcher_on_request(
    triton_repository, tmp_path
):
    config = copy_of(triton_repository, tmp_path)
    text = config.read_text().replace("version_policy: { specific: { versions: [ 1 ] } }", "")
    config.write_text(text + '\nparameters { key: "batching" value: { string_value: "adaptive" } }\n')
    spec = load_spec(tmp_path, "simple")
    assert spec.version == "2" and spec.batching == {"policy": "adaptive"}
