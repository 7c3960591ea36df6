"""The model repository: a folder per model, in interfleet's layout or in Triton's.

    model_repository/
      resnet18/            # interfleet's layout
        model.onnx
        config.yaml        # name, slo_ms, max_batch_size; optional batching; the zoo adds flops and params
      densenet_onnx/       # Triton's layout
        config.pbtxt       # optional: auto-completed from the graph when absent
        densenet_labels.txt
        1/model.onnx       # version folders; the newest the version policy allows is served
        2/model.onnx

A folder with `config.yaml` is interfleet's; any other folder holding `config.pbtxt` or a
numbered version folder with the model file is Triton's (`interfleet.triton_config` says what
is read from it). Both may sit in one repository.

A config.yaml is validated strictly: an unknown key, a fractional batch size, a NaN, infinite or
non-positive SLO, or a batch size beyond MAX_BATCH_SIZE is a RepositoryError naming the file,
the key and the value. Inputs and outputs are not repeated in it: they are read from the graph.
A max_batch_size of 0 (either layout) means the model takes no batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml

from interfleet.errors import ConfigError, ModelNotFound

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.yaml"
TRITON_CONFIG_FILE = "config.pbtxt"


class RepositoryError(ConfigError):
    """A model folder that cannot be used, named with what is wrong (a configuration error: a
    service that meets one at start stops with its message, in one line)."""


@dataclass(frozen=True)
class SequenceControl:
    """A control input the server fills for every request of a sequence (Triton's control_input)."""

    input: str
    kind: str  # "start", "end", "ready" (the values are `false`/`true`) or "corrid" (the sequence id)
    datatype: str  # v2 datatype of the input
    false: float = 0
    true: float = 1


@dataclass(frozen=True)
class SequenceStateTensor:
    """Implicit state: `output`'s value after one request of a sequence is `input`'s on the next."""

    input: str
    output: str
    datatype: str
    dims: tuple[int, ...]


@dataclass(frozen=True)
class SequenceSettings:
    """A stateful model (Triton's sequence_batching, direct strategy): a sequence's requests run in
    order on one worker, which fills the control inputs and carries the state between them."""

    idle_s: float
    controls: tuple[SequenceControl, ...] = ()
    states: tuple[SequenceStateTensor, ...] = ()

    @property
    def internal_inputs(self) -> frozenset[str]:
        """Inputs the server fills; a client never sends them."""
        return frozenset([c.input for c in self.controls] + [s.input for s in self.states])

    @property
    def state_outputs(self) -> frozenset[str]:
        return frozenset(s.output for s in self.states)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: Path  # the model.onnx file
    slo_ms: float
    max_batch_size: int
    version: str = "1"
    description: str = ""
    flops_per_sample: int = 0
    parameter_count: int = 0
    batching: dict = field(default_factory=dict)  # policy, max_batch_size, late, policy arguments
    input_formats: dict[str, str] = field(default_factory=dict)  # Triton's FORMAT_NCHW, ... by input
    labels: dict[str, str] = field(default_factory=dict)  # output -> its labels file (a path)
    sequence: SequenceSettings | None = None  # a stateful model's sequence batching (Triton layout)

    @property
    def batch_limit(self) -> int:
        """The most items one execution takes: a non-batching model (max_batch_size 0) runs one."""
        return max(1, self.max_batch_size)


# The largest batch a model may declare: a worker warms up every batch size when it loads the
# model, so an absurd one (100000) would keep it loading for hours instead of failing.
MAX_BATCH_SIZE = 1024


class _ModelConfig(pydantic.BaseModel):
    """config.yaml, validated as strictly as a service's config: no key unknown, no number bent."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    name: str | None = None
    slo_ms: float = pydantic.Field(gt=0, allow_inf_nan=False)
    max_batch_size: int = pydantic.Field(ge=0, le=MAX_BATCH_SIZE)
    version: str | int = "1"
    description: str = ""
    family: str = ""
    flops_per_sample: int = pydantic.Field(default=0, ge=0)
    parameter_count: int = pydantic.Field(default=0, ge=0)
    batching: dict[str, Any] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("slo_ms", mode="before")
    @classmethod
    def _integers_are_numbers(cls, value: Any) -> Any:
        # `slo_ms: 10` is ten milliseconds; strict mode would refuse an int for a float.
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def load_spec(repository: Path, name: str) -> ModelSpec:
    folder = Path(repository) / name
    if not folder.is_dir():
        available = ", ".join(list_models(repository)) or "none"
        raise ModelNotFound(f"model '{name}' is not in repository {repository} (available: {available})")
    if not (folder / CONFIG_FILE).is_file() and _is_triton_folder(folder):
        return _triton_spec(folder, name)
    config_path = folder / CONFIG_FILE
    try:
        raw = yaml.safe_load(config_path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RepositoryError(f"{config_path}: cannot read model config: {exc}") from exc
    if not (folder / MODEL_FILE).is_file():
        raise RepositoryError(f"{folder}: no {MODEL_FILE}")
    if not isinstance(raw, dict):
        raise RepositoryError(f"{config_path}: expected a mapping of keys, got {type(raw).__name__}")
    try:
        config = _ModelConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']} (got {error['input']!r})"
            for error in exc.errors()
        )
        raise RepositoryError(f"{config_path}: {problems}") from None
    if config.name is not None and config.name != name:
        raise RepositoryError(f"{config_path}: name {config.name!r} does not match its folder {name!r}")
    return ModelSpec(
        name=name,
        path=folder / MODEL_FILE,
        slo_ms=config.slo_ms,
        max_batch_size=config.max_batch_size,
        version=str(config.version),
        description=config.description,
        flops_per_sample=config.flops_per_sample,
        parameter_count=config.parameter_count,
        batching=dict(config.batching),
    )


def _versions(folder: Path, filename: str) -> list[int]:
    return sorted(
        int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit() and (p / filename).is_file()
    )


def _is_triton_folder(folder: Path) -> bool:
    return (folder / TRITON_CONFIG_FILE).is_file() or bool(_versions(folder, MODEL_FILE))


def _triton_spec(folder: Path, name: str) -> ModelSpec:
    # Imported here: Triton's config needs protobuf and tritonclient, which the pure layers that
    # use ModelSpec (the batchers, the simulator) must not pull in.
    from interfleet import triton_config

    config_path = folder / TRITON_CONFIG_FILE
    try:
        config = triton_config.read_config(config_path) if config_path.is_file() else None
        if config is not None and config.name and config.name != name:
            raise RepositoryError(f"{config_path}: name {config.name!r} does not match its folder {name!r}")
        filename = (config.default_model_filename if config else "") or MODEL_FILE
        available = _versions(folder, filename)
        policy = config.version_policy if config else None
        version = triton_config.select_version(policy, available) if policy else max(available, default=None)
        if version is None:
            raise RepositoryError(
                f"{folder}: no version folder holds {filename}"
                + (f" that the version policy allows (present: {available})" if available else "")
            )
        path = folder / str(version) / filename
        inputs, outputs = triton_config.graph_tensors(path)
        if config is None:
            config = triton_config.autocomplete(name, inputs, outputs)
        else:
            triton_config.check_against_graph(config, inputs, outputs, config_path)
        fields = triton_config.spec_fields(config, config_path, MAX_BATCH_SIZE)
    except triton_config.TritonConfigError as exc:
        raise RepositoryError(str(exc)) from None
    fields["labels"] = {output: str(folder / filename) for output, filename in fields["labels"].items()}
    return ModelSpec(name=name, path=path, version=str(version), **fields)


ALL_MODELS = "*"


def expand_models(names: tuple[str, ...] | list[str], repository: Path) -> list[str]:
    """A worker's configured models with "*" standing for every model of the repository."""
    expanded: list[str] = []
    for name in names:
        for model in list_models(repository) if name == ALL_MODELS else [name]:
            if model not in expanded:
                expanded.append(model)
    return expanded


def list_models(repository: Path) -> list[str]:
    """Every model folder of the repository, in either layout (usable or not: `load_spec` says)."""
    root = Path(repository)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir() if p.is_dir() and ((p / MODEL_FILE).is_file() or _is_triton_folder(p))
    )
