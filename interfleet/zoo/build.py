"""Write zoo models into a model repository (`interfleet models build`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import onnx
import yaml

from interfleet.repository import CONFIG_FILE, MODEL_FILE
from interfleet.zoo.architectures import ZOO, ZooModel

log = logging.getLogger(__name__)


def write_model(repository: Path, zoo_model: ZooModel) -> Path:
    folder = Path(repository) / zoo_model.name
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(zoo_model.model, folder / MODEL_FILE)
    config = {
        "name": zoo_model.name,
        "slo_ms": zoo_model.slo_ms,
        "max_batch_size": zoo_model.max_batch_size,
        "description": zoo_model.description,
        "family": zoo_model.family,
        "flops_per_sample": zoo_model.flops_per_sample,
        "parameter_count": zoo_model.parameter_count,
    }
    (folder / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def build_zoo(repository: Path, names: Iterable[str] | None = None, force: bool = False) -> list[str]:
    """Generate the named zoo models (all by default); returns the names written.

    A model whose folder already holds both files is kept unless `force` is set.
    """
    chosen = list(names) if names else list(ZOO)
    unknown = [n for n in chosen if n not in ZOO]
    if unknown:
        raise ValueError(f"unknown zoo model(s): {', '.join(unknown)} (zoo: {', '.join(ZOO)})")
    written = []
    for name in chosen:
        folder = Path(repository) / name
        if not force and (folder / MODEL_FILE).is_file() and (folder / CONFIG_FILE).is_file():
            continue
        zoo_model = ZOO[name]()
        write_model(repository, zoo_model)
        log.info(
            "built %s: %.1f MFLOPs/sample, %.2fM parameters",
            name,
            zoo_model.flops_per_sample / 1e6,
            zoo_model.parameter_count / 1e6,
        )
        written.append(name)
    return written
