"""The Docker engine and the Compose the compose tests drive: found running, or started and later stopped.

Compose v2 (`docker compose`) is used where the client has it, else docker-compose 1.29. Images are
built with BuildKit, which builds only the Dockerfile stages the profile needs (the classic builder
would build the GPU stage too); a client without the buildx plugin gets, ahead of it on PATH, a
client that still has BuildKit built in (Debian's docker.io 20.10 ships one at /usr/bin/docker).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path


class EngineUnavailable(Exception):
    """No Docker engine can be used here; the message says why (the compose tests skip with it)."""


def _ok(*command: str, env: dict | None = None, timeout: float = 30) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=timeout, env=env).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _client_major(docker: str) -> int:
    done = subprocess.run(
        [docker, "version", "--format", "{{.Client.Version}}"], capture_output=True, text=True
    )
    try:
        return int(done.stdout.strip().split(".")[0])
    except ValueError:
        return 0


class DockerEngine:
    def __init__(self, project_dir: Path, log_dir: Path):
        self._project_dir = project_dir  # where docker-compose.yml and .env (the project name) are
        self._log_dir = log_dir
        self._daemon: subprocess.Popen | None = None
        self._shim = Path(tempfile.mkdtemp(prefix="interfleet-docker-"))
        self.env = {**os.environ, "DOCKER_BUILDKIT": "1", "COMPOSE_DOCKER_CLI_BUILD": "1"}
        self.compose_command: list[str] = []

    @property
    def started_daemon(self) -> bool:
        return self._daemon is not None

    def ensure(self, start_timeout_s: float = 60.0) -> DockerEngine:
        """Use the running daemon, or start `dockerd` (as root) and wait for it; then pick Compose."""
        if shutil.which("docker") is None:
            raise EngineUnavailable(
                "no docker client on PATH (install Debian's docker.io: make compose-test does)"
            )
        if not _ok("docker", "info"):
            self._start_daemon(start_timeout_s)
        self._pick_builder()
        if _ok("docker", "compose", "version", env=self.env):
            self.compose_command = ["docker", "compose"]
        elif shutil.which("docker-compose"):
            self.compose_command = ["docker-compose"]
        else:
            raise EngineUnavailable("neither `docker compose` nor docker-compose is installed")
        return self

    def _start_daemon(self, timeout_s: float) -> None:
        dockerd = shutil.which("dockerd")
        if dockerd is None or os.geteuid() != 0:
            why = "dockerd is not installed" if dockerd is None else "starting dockerd needs root"
            raise EngineUnavailable(f"no Docker daemon answers and none can be started here: {why}")
        log = (self._log_dir / "dockerd.log").open("w")
        self._daemon = subprocess.Popen(
            [dockerd], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while not _ok("docker", "info"):
            if self._daemon.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = (self._log_dir / "dockerd.log").read_text()[-1500:]
                raise EngineUnavailable(f"dockerd did not start:\n{tail}")
            time.sleep(0.5)

    def _pick_builder(self) -> None:
        if _ok("docker", "buildx", "version"):
            return
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            candidate = Path(folder) / "docker"
            if candidate.is_file() and 0 < _client_major(str(candidate)) < 23:
                (self._shim / "docker").symlink_to(candidate)
                self.env["PATH"] = f"{self._shim}{os.pathsep}{self.env['PATH']}"
                return
        raise EngineUnavailable(
            "no BuildKit builder: the docker client lacks buildx and no client with "
            "BuildKit built in (< 23) is on PATH"
        )

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*self.compose_command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env,
            cwd=self._project_dir,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.compose_command)} {' '.join(args)} failed:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def docker(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            ["docker", *args], capture_output=True, text=True, timeout=timeout, env=self.env, check=True
        )
        return done.stdout

    def has_image(self, name: str) -> bool:
        return _ok("docker", "image", "inspect", name, env=self.env)

    def stop(self) -> None:
        """Stop the daemon this engine started (a daemon found running is left running)."""
        if self._daemon is not None and self._daemon.poll() is None:
            self._daemon.terminate()
            try:
                self._daemon.wait(30)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                self._daemon.wait()
        self._daemon = None
        shutil.rmtree(self._shim, ignore_errors=True)
