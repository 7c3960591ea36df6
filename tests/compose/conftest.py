"""The compose stack of docker-compose.yml, built and brought up once for the compose tests.

`make compose-test` runs these (pytest -m compose); `make test` leaves them out. Without a Docker
engine that can be used or started here, every compose test is skipped with the reason.
Phase timings go to results/compose-test/timings.json and to the end of pytest's report.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time

import pytest
from compose_stack import RESULTS, ROOT, ComposeFleet
from docker_engine import DockerEngine, EngineUnavailable

TIMINGS: dict[str, float | str | bool] = {}
BASE_IMAGE_SCRIPT = ROOT / "deploy" / "images" / "build-base-images.sh"
# The registry images the files name, which that script makes from Debian (its `name|packages|...` lines).
BASE_IMAGES = re.findall(r'^\s+"([^|"]+)\|', BASE_IMAGE_SCRIPT.read_text(), re.M)


def _timed(phase: str, started: float) -> None:
    TIMINGS[phase] = round(time.monotonic() - started, 1)


@pytest.fixture(scope="session")
def compose_stack():
    RESULTS.mkdir(parents=True, exist_ok=True)
    begun = time.monotonic()
    engine = DockerEngine(ROOT, RESULTS)
    try:
        engine.ensure()
    except EngineUnavailable as why:
        pytest.skip(f"no Docker engine: {why}")
    _timed("engine", begun)
    stack = ComposeFleet(engine)
    try:
        started = time.monotonic()
        if shutil.which("mmdebstrap") is None and not all(engine.has_image(i) for i in BASE_IMAGES):
            pytest.skip("base images missing and no mmdebstrap to build them (Debian's mmdebstrap package)")
        built = subprocess.run(
            [str(BASE_IMAGE_SCRIPT)], env=engine.env, capture_output=True, text=True, timeout=900
        )
        assert built.returncode == 0, (
            f"base images did not build:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}"
        )
        _timed("base images", started)
        started = time.monotonic()
        stack.compose("build", timeout=900)
        _timed("build", started)
        started = time.monotonic()
        stack.compose("up", "-d", timeout=300)
        stack.wait_healthy(240)
        stack.wait_models_ready(120)
        _timed("up until healthy and serving", started)
        yield stack
    finally:
        started = time.monotonic()
        stack.compose("down", "--volumes", "--remove-orphans", timeout=300, check=False)
        _timed("down", started)
        TIMINGS["compose"] = " ".join(engine.compose_command)
        TIMINGS["daemon started by the test"] = engine.started_daemon
        engine.stop()
        _timed("total", begun)
        (RESULTS / "timings.json").write_text(json.dumps(TIMINGS, indent=2) + "\n")


@pytest.fixture(scope="session")
def fleet(compose_stack):
    """The fleet tests' fixture, served by the compose stack."""
    return compose_stack


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("compose stack timings (s)")
        for phase, seconds in TIMINGS.items():
            terminalreporter.write_line(f"{phase:<32}{seconds}")
