"""The model repository: a folder per model holding `model.onnx` and `config.yaml`.

    model_repository/
      resnet18/
        model.onnx
        config.yaml      # name, slo_ms, max_batch_size; optional batching; the zoo adds flops and params

A config is validated strictly: an unknown key, a fractional batch size, a NaN, infinite or
non-positive SLO, or a batch size beyond MAX_BATCH_SIZE is a RepositoryError naming the file,
the key and the value.

Inputs and outputs are not repeated in the config: they are read from the ONNX graph.
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


class RepositoryError(ConfigError):
    """A model folder that cannot be used, named with what is wrong (a configuration error: a
    service that meets one at start stops with its message, in one line)."""


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


# The largest batch a model may declare: a worker warms up every batch size when it loads the
# model, so an absurd one (100000) would keep it loading for hours instead of failing.
MAX_BATCH_SIZE = 1024


class _ModelConfig(pydantic.BaseModel):
    """config.yaml, validated as strictly as a service's config: no key unknown, no number bent."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=True)

    name: str | None = None
    slo_ms: float = pydantic.Field(gt=0, allow_inf_nan=False)
    max_batch_size: int = pydantic.Field(ge=1, le=MAX_BATCH_SIZE)
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


def list_models(repository: Path) -> list[str]:
    root = Path(repository)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MODEL_FILE).is_file())
