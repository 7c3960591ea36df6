"""Processes stop when told to, whatever they are doing: a worker still warming up its models
honours SIGTERM at once instead of finishing a warm-up that may take minutes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytestmark = pytest.mark.fleet


def test_a_worker_warming_up_stops_on_sigterm(zoo, tmp_path):
    # resnet18 warmed up at every batch size to 256 takes minutes on two cores.
    scratch = tmp_path / "repository"
    shutil.copytree(zoo / "resnet18", scratch / "resnet18")
    config = scratch / "resnet18" / "config.yaml"
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "max_batch_size": 256}))
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fleet",
            "worker",
            "--worker-id",
            "w",
            "--models",
            "resnet18",
            "--model-repository",
            str(scratch),
            "--redis-url",
            "redis://127.0.0.1:1",
            "--cpus",
            "0",
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(4.0)  # well into the warm-up: the model is loaded, batch sizes are being run
        assert worker.poll() is None, log.read_text()[-2000:]
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=20)
        stopped_s = time.monotonic() - signalled
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert stopped_s < 5.0, f"took {stopped_s:.1f} s to stop\n{text[-2000:]}"
    assert "stop requested while starting" in text and "Traceback" not in text, text[-2000:]
