"""Bad configuration stops a service at once, in one line naming the file, key and value (a bad
model config stops a worker that is told to `--exit-on-error`; otherwise that model alone is
UNAVAILABLE, tested in test_triton_layout), and `interfleet up` checks every service's before it
starts any."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest
import yaml
from fleet_harness import lone_worker_command

pytestmark = pytest.mark.fleet


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("max_batch_size: 2.9", "max_batch_size: Input should be a valid integer (got 2.9)"),
        ("max_batch_size: 100000", "max_batch_size: Input should be less than or equal to 1024"),
        ("slo_ms: .nan", "slo_ms: Input should be a finite number"),
    ],
)
def test_a_worker_with_a_bad_model_config_stops_with_one_line(repository, tmp_path, line, named):
    scratch = tmp_path / "repository"
    shutil.copytree(repository / "mlp", scratch / "mlp")
    config = scratch / "mlp" / "config.yaml"
    key = line.split(":")[0]
    config.write_text(
        "".join(
            f"{line}\n" if row.startswith(key) else row
            for row in config.read_text().splitlines(keepends=True)
        )
    )
    done = subprocess.run(
        lone_worker_command("mlp", scratch, "--exit-on-error"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"interfleet worker: {config}: ") and named in last, last


@pytest.mark.parametrize(
    ("router", "workers", "named"),
    [
        ({"policy": "fastest-please"}, [{"cpus": [0]}], "unknown routing policy 'fastest-please'"),
        ({"policy_args": {"speed": 1}}, [{"cpus": [0]}], "policy 'least-loaded': bad policy_args"),
        ({"max_in_flight": 2.5}, [{"cpus": [0]}], "max_in_flight"),
        ({}, [{"cpus": [0]}, {"cpus": [99]}], "worker w1: cpus [99] names cores this host does not offer"),
    ],
)
def test_interfleet_up_checks_every_service_before_starting_any(repository, tmp_path, router, workers, named):
    config = tmp_path / "fleet.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "fleet": "preflight",
                "model_repository": str(repository),
                "router": {"port": 0, "http_port": 0, **router},
                "workers": [{"worker_id": f"w{i}", "models": ["mlp"], **w} for i, w in enumerate(workers)],
            }
        )
    )
    run_dir = tmp_path / "run"
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "fleet", "up", "--config", str(config), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and time.monotonic() - started < 15
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("interfleet up: ") and named in last and "Traceback" not in done.stderr, (
        done.stderr
    )
    assert not list(run_dir.glob("*.ready.json")), "a service was started"
