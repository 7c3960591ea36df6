"""The compose stack as the tests see it: where it answers, its containers, waits for health."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import tritonclient.grpc as tc
import yaml
from docker_engine import DockerEngine
from fleet_harness import workers_by_model

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results" / "compose-test"
PROJECT = "interfleet"  # .env's COMPOSE_PROJECT_NAME
PROFILE = ["--profile", "cpu"]
ROUTER = "127.0.0.1:8001"
PROMETHEUS = "http://127.0.0.1:9090"
ONE_SHOT = {"fleet-secrets"}  # runs once on `up` and exits


class ComposeFleet:
    """The stack as the fleet tests see a fleet: an address, its models, who serves each."""

    def __init__(self, engine: DockerEngine):
        self.engine = engine
        self.address = ROUTER
        fleet = yaml.safe_load((ROOT / "configs" / "compose.yaml").read_text())
        self._serving = workers_by_model([w for w in fleet["workers"] if w["device"] == "cpu"])
        self.models = set(self._serving)

    def workers_serving(self, model: str) -> set[str]:
        return self._serving[model]

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return self.engine.compose(*PROFILE, *args, timeout=timeout, check=check)

    def containers(self) -> dict[str, dict]:
        """Service -> {state, health, exit} of the project's containers, stopped ones too (health '': no check)."""
        listed = self.engine.docker(
            "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={PROJECT}"
        ).split()
        if not listed:
            return {}
        shown = self.engine.docker(
            "inspect",
            "--format",
            '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} '
            "{{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
            *listed,
        )
        out = {}
        for line in shown.splitlines():
            service, state, exit_code, *health = line.split()
            out[service] = {"state": state, "health": health[0] if health else "", "exit": int(exit_code)}
        return out

    def wait_healthy(self, timeout_s: float, services: set[str] | None = None) -> dict[str, dict]:
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.containers()
            waiting = {
                s: c
                for s, c in seen.items()
                if (services is None or s in services)
                and not (s in ONE_SHOT and c["state"] == "exited" and c["exit"] == 0)
                and (c["state"] != "running" or c["health"] not in ("", "healthy"))
            }
            if seen and not waiting:
                return seen
            if time.monotonic() > deadline:
                logs = self.compose("logs", "--tail=40", check=False).stdout[-6000:]
                raise AssertionError(f"services not healthy after {timeout_s:.0f} s: {waiting}\n{logs}")
            time.sleep(1)

    def wait_models_ready(self, timeout_s: float) -> None:
        client = tc.InferenceServerClient(self.address)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if all(client.is_model_ready(m, client_timeout=2) for m in sorted(self.models)):
                    return
            except Exception:  # noqa: BLE001  # not up yet, whatever the transport says
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"router at {self.address} did not serve {sorted(self.models)} in {timeout_s} s"
                )
            time.sleep(1)
