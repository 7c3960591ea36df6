"""A worker given a bad model config stops at once with one line naming the file, key and value."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

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
        [
            sys.executable,
            "-m",
            "fleet",
            "worker",
            "--worker-id",
            "w",
            "--models",
            "mlp",
            "--model-repository",
            str(scratch),
            "--redis-url",
            "redis://127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"interfleet worker: {config}: ") and named in last, last
