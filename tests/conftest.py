"""Shared fixtures: a zoo of small models, built once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from interfleet.zoo.architectures import ZOO  # noqa: E402
from interfleet.zoo.build import build_zoo  # noqa: E402

TEST_MODELS = ["tiny_cnn", "mlp", "transformer"]


@pytest.fixture(scope="session")
def repository(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model_repository")
    build_zoo(path, TEST_MODELS)
    return path


@pytest.fixture(scope="session")
def zoo(tmp_path_factory) -> Path:
    """Every zoo model, the GPU-class ones included (about a second to build)."""
    path = tmp_path_factory.mktemp("zoo")
    build_zoo(path, sorted(ZOO))
    return path
