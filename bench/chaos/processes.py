"""The fleet under chaos: Redis, workers and a router as separate processes that faults can hit.

Unlike `interfleet up`, every part here can be killed, paused or restarted on its own, on the
same port and with the same credentials, as an orchestrator would restart it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from fleet.embedded_redis import EmbeddedRedis, free_port
from interfleet.ready_file import wait_for_ready_file


class Service:
    """One `interfleet <command>` process, restartable with the same arguments."""

    def __init__(self, name: str, args: list[str], run_dir: Path, env: dict[str, str]):
        self.name = name
        self._args = args
        self._run_dir = run_dir
        self._env = env
        self.process: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self, timeout_s: float = 60.0) -> dict:
        ready = self._run_dir / f"{self.name}.ready.json"
        ready.unlink(missing_ok=True)
        log = (self._run_dir / f"{self.name}.log").open("a")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet",
                *self._args,
                "--ready-file",
                str(ready),
                "--log-level",
                "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env,
        )
        self.info = wait_for_ready_file(ready, timeout_s, lambda: self.process.poll() is None)
        return self.info

    def signal(self, signum: int) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ChaosFleet:
    def __init__(self, config_path: Path, worker_ids: list[str], run_dir: Path):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.redis = EmbeddedRedis(run_dir / "redis")
        self._run_dir = run_dir
        self._config = str(config_path)
        self._worker_ids = worker_ids
        self.workers: dict[str, Service] = {}
        self.router: Service | None = None
        self.router_port = free_port()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.router_port}"

    def start(self) -> None:
        self.redis.start()
        env = {**os.environ, "REDIS_URL": self.redis.url}
        for worker_id in self._worker_ids:
            self.workers[worker_id] = Service(
                f"worker-{worker_id}",
                ["worker", "--config", self._config, "--worker-id", worker_id],
                self._run_dir,
                env,
            )
            self.workers[worker_id].start()
        self.router = Service(
            "router",
            ["router", "--config", self._config, "--port", str(self.router_port)],
            self._run_dir,
            env,
        )
        self.router.start()

    def restart_worker(self, worker_id: str) -> None:
        worker = self.workers[worker_id]
        worker.stop()
        worker.start()

    def stop(self) -> None:
        if self.router is not None:
            self.router.stop()
        for worker in self.workers.values():
            worker.signal(signal.SIGCONT)  # a paused worker cannot handle SIGTERM
            worker.stop()
        self.redis.stop()
