"""The model repository: a folder per model holding `model.onnx` and `config.yaml`.

    model_repository/
      resnet18/
        model.onnx
        config.yaml      # name, slo_ms, max_batch_size; optional batching; the zoo adds flops and params

Inputs and outputs are not repeated in the config: they are read from the ONNX graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from interfleet.errors import ModelNotFound

MODEL_FILE = "model.onnx"
CONFIG_FILE = "config.yaml"


class RepositoryError(ValueError):
    """A model folder that cannot be used, named with what is wrong."""


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
    try:
        spec = ModelSpec(
            name=name,
            path=folder / MODEL_FILE,
            slo_ms=float(raw["slo_ms"]),
            max_batch_size=int(raw["max_batch_size"]),
            version=str(raw.get("version", "1")),
            description=str(raw.get("description", "")),
            flops_per_sample=int(raw.get("flops_per_sample", 0)),
            parameter_count=int(raw.get("parameter_count", 0)),
            batching=dict(raw.get("batching") or {}),
        )
    except KeyError as exc:
        raise RepositoryError(f"{config_path}: missing required key {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise RepositoryError(f"{config_path}: {exc}") from exc
    if spec.name != raw.get("name", name):
        raise RepositoryError(f"{config_path}: name {raw.get('name')!r} does not match its folder {name!r}")
    if spec.max_batch_size < 1 or spec.slo_ms <= 0:
        raise RepositoryError(f"{config_path}: max_batch_size must be >= 1 and slo_ms > 0")
    return spec


def list_models(repository: Path) -> list[str]:
    root = Path(repository)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MODEL_FILE).is_file())
