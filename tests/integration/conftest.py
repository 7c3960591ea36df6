"""Fleets of real processes on loopback with ephemeral ports."""

from __future__ import annotations

import pytest
from fleet_harness import Fleet

# Three workers of different capacity with overlapping model sets, as configs/local.yaml.
HETEROGENEOUS = [
    {"worker_id": "core0", "cpus": [0], "threads": 1, "models": ["tiny_cnn", "mlp", "transformer"]},
    {"worker_id": "core1", "cpus": [1], "threads": 1, "models": ["tiny_cnn", "mlp"]},
    {"worker_id": "both", "cpus": [0, 1], "threads": 2, "models": ["mlp", "transformer"]},
]


@pytest.fixture(scope="module")
def fleet(repository, tmp_path_factory):
    running = Fleet(tmp_path_factory.mktemp("fleet"), repository, HETEROGENEOUS).start()
    yield running
    running.stop()
