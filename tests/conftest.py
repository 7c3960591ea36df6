"""Shared fixtures: a zoo of small models, built once per test session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_clock import FakeClock
from fleet_identities import FleetIdentities

from interfleet.zoo.architectures import ZOO
from interfleet.zoo.build import build_zoo

TEST_MODELS = ["tiny_cnn", "mlp", "transformer"]


@pytest.fixture
def clock() -> FakeClock:
    """A clock at 0 s that moves only when the test moves it (inject it where code takes a clock)."""
    return FakeClock()


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


@pytest.fixture(scope="session")
def identities(tmp_path_factory) -> FleetIdentities:
    """A fleet CA and an identity per role, and a second fleet's (`foreign`) it does not trust."""
    fleet = FleetIdentities(tmp_path_factory.mktemp("identities"))
    fleet.foreign = FleetIdentities(tmp_path_factory.mktemp("foreign-identities"))
    return fleet
