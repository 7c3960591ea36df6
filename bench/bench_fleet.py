"""A throwaway fleet for a benchmark: a fleet file in a scratch folder and `interfleet up`'s supervisor,
and extra routers beside the fleet's own (another policy, another hop) to compare in one run."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from fleet.supervisor import FleetSupervisor
from interfleet.config_file import worker_ids
from interfleet.ready_file import wait_for_ready_file


@contextlib.contextmanager
def running_fleet(
    repository: str, workers: list[dict], http: bool = False, router_settings: dict | None = None
) -> Iterator[tuple[FleetSupervisor, Path]]:
    """Embedded Redis, `workers` and a router on ephemeral ports (metrics off, HTTP/REST only with
    `http`, and any other `router_settings`); yields (supervisor, run dir)."""
    with tempfile.TemporaryDirectory() as scratch:
        config = {
            "fleet": "bench",
            "model_repository": str(Path(repository).resolve()),
            "router": {"metrics_port": -1, "http_port": 0 if http else -1, **(router_settings or {})},
            "workers": [{"metrics_port": -1, **w} for w in workers],
        }
        path = Path(scratch) / "fleet.yaml"
        path.write_text(yaml.safe_dump(config))
        run_dir = Path(scratch) / "run"
        supervisor = FleetSupervisor(
            str(path),
            worker_ids(config),
            0,
            None,
            run_dir,
            log_level="WARNING",
            routers=config["router"].get("processes", 1),
        )
        try:
            supervisor.start()
            yield supervisor, run_dir
        finally:
            supervisor.stop(grace=2.0)


def start_router(
    config: Path,
    redis_url: str,
    name: str,
    scratch: Path,
    flags: Sequence[str] = (),
    settings: dict | None = None,
    code: Path | None = None,
) -> tuple[subprocess.Popen, str]:
    """Another router over the fleet of `config`, with extra command-line `flags` and router
    `settings` (as INTERFLEET_ROUTER_* variables), run from the checkout at `code` (an earlier
    commit's worktree; default: this one); returns the process and its address once ready."""
    ready = scratch / f"router-{name}.ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleet",
            "router",
            "--config",
            str(config),
            "--redis-url",
            redis_url,
            "--port",
            "0",
            "--metrics-port",
            "-1",
            "--http-port",
            "-1",
            "--ready-file",
            str(ready),
            "--log-level",
            "WARNING",
            *flags,
        ],
        cwd=code,
        env={
            **os.environ,
            **({"PYTHONPATH": str(code)} if code else {}),
            **{
                f"INTERFLEET_ROUTER_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
                for k, v in (settings or {}).items()
            },
        },
    )
    return process, wait_for_ready_file(ready, 60, lambda: process.poll() is None)["address"]


def stop_routers(routers: dict[str, tuple[subprocess.Popen | None, str]]) -> None:
    """Stop the extra routers `start_router` started (a None process is the fleet's own)."""
    for process, _ in routers.values():
        if process is not None:
            process.terminate()
            process.wait()
