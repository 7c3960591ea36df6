"""A throwaway fleet for a benchmark: a fleet file in a scratch folder and `interfleet up`'s supervisor."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from interfleet.fleet.config_file import worker_ids
from interfleet.fleet.supervisor import FleetSupervisor


@contextlib.contextmanager
def running_fleet(repository: str, workers: list[dict]) -> Iterator[tuple[FleetSupervisor, Path]]:
    """Embedded Redis, `workers` and a router on ephemeral ports (metrics off); yields (supervisor, run dir)."""
    with tempfile.TemporaryDirectory() as scratch:
        config = {"fleet": "bench", "model_repository": str(Path(repository).resolve()),
                  "router": {"metrics_port": -1}, "workers": [{"metrics_port": -1, **w} for w in workers]}
        path = Path(scratch) / "fleet.yaml"
        path.write_text(yaml.safe_dump(config))
        run_dir = Path(scratch) / "run"
        supervisor = FleetSupervisor(str(path), worker_ids(config), 0, None, run_dir, log_level="WARNING")
        try:
            supervisor.start()
            yield supervisor, run_dir
        finally:
            supervisor.stop(grace=2.0)
