"""The fleet under chaos: Redis, workers and two routers as separate processes that faults can hit.

Unlike `interfleet up`, every part here can be killed, paused or restarted on its own, on the
same port and with the same credentials, as an orchestrator would restart it. Every process
runs on the fleet's cores (`cpus`), so the load generator keeps a core of its own.

A process started again (after a fault) starts at `STARTING_NICE` and returns to normal
priority once it is ready: in a cluster its start-up (imports, loading and warming models)
runs on a node or cores of its own, while here it would take the one core the serving
processes share, and the figures would measure that instead of how the fleet handles the fault.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from fleet.embedded_redis import EmbeddedRedis, free_port
from fleet.process_tree import spawn_child
from interfleet.ready_file import wait_for_ready_file

ROUTERS = ("r0", "r1")
ROUTER_DRAIN_S = 0.5  # NOT_SERVING this long before a stopping router refuses calls
STARTING_NICE = 10


def renice(pid: int, niceness: int) -> None:
    """Every thread of `pid` (Linux keeps a niceness per thread) to `niceness`."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
        except (ProcessLookupError, PermissionError):
            pass


class Service:
    """One `interfleet <command>` process, restartable with the same arguments (and `extra` ones)."""

    def __init__(self, name: str, args: list[str], run_dir: Path, env: dict[str, str], cpus: tuple[int, ...]):
        self.name = name
        self._args = args
        self.extra: list[str] = []
        self._run_dir = run_dir
        self._env = env
        self._cpus = cpus
        self.process: subprocess.Popen | None = None
        self.info: dict = {}
        self._started = 0

    def start(self, timeout_s: float = 60.0) -> dict:
        ready = self._run_dir / f"{self.name}.ready.json"
        ready.unlink(missing_ok=True)
        log = (self._run_dir / f"{self.name}.log").open("a")
        self.process = spawn_child(
            [
                sys.executable,
                "-m",
                "fleet",
                *self._args,
                *self.extra,
                "--ready-file",
                str(ready),
                "--log-level",
                "WARNING",
            ],
            cpus=self._cpus,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env,
        )
        again = self._started > 0
        self._started += 1
        if again:  # before the child starts its threads, which inherit it
            os.setpriority(os.PRIO_PROCESS, self.process.pid, STARTING_NICE)
        self.info = wait_for_ready_file(ready, timeout_s, lambda: self.process.poll() is None)
        if again:
            renice(self.process.pid, 0)
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

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on this service's /metrics (0 if it cannot be read)."""
        try:
            text = urllib.request.urlopen(f"http://{self.info['metrics']}/metrics", timeout=2).read().decode()
        except (OSError, KeyError):
            return 0.0
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


class ChaosFleet:
    def __init__(self, config_path: Path, worker_ids: list[str], run_dir: Path, cpus: tuple[int, ...]):
        run_dir.mkdir(parents=True, exist_ok=True)
        self.cpus = cpus
        self.redis = EmbeddedRedis(run_dir / "redis", cpus=cpus)
        self._run_dir = run_dir
        self._config = str(config_path)
        self._worker_ids = worker_ids
        self.workers: dict[str, Service] = {}
        self.routers: dict[str, Service] = {}
        self.router_ports = {name: free_port() for name in ROUTERS}

    @property
    def addresses(self) -> list[str]:
        return [f"127.0.0.1:{port}" for port in self.router_ports.values()]

    def start(self) -> None:
        self.redis.start()
        env = {**os.environ, "REDIS_URL": self.redis.url}
        for worker_id in self._worker_ids:
            self.workers[worker_id] = Service(
                f"worker-{worker_id}",
                ["worker", "--config", self._config, "--worker-id", worker_id],
                self._run_dir,
                env,
                self.cpus,
            )
            self.workers[worker_id].start()
        for name, port in self.router_ports.items():
            self.routers[name] = Service(
                f"router-{name}",
                [
                    "router",
                    "--config",
                    self._config,
                    "--port",
                    str(port),
                    "--http-port",
                    "-1",
                    "--drain-s",
                    str(ROUTER_DRAIN_S),
                ],
                self._run_dir,
                env,
                self.cpus,
            )
            self.routers[name].start()

    def retries(self) -> float:
        return sum(r.metric("interfleet_router_retries_total") for r in self.routers.values())

    def rolling_restart(self, extra: list[str] | None = None, settle_s: float = 15.0) -> None:
        """Each router in turn: stopped (it drains), started again on its port (with `extra` arguments
        from now on when given), and the next one only once clients are served by it again."""
        for router in self.routers.values():
            if extra is not None:
                router.extra = extra
            router.stop()
            router.start()
            deadline = time.monotonic() + settle_s
            while router.metric("nv_inference_request_success") == 0 and time.monotonic() < deadline:
                time.sleep(0.05)

    def restore(self) -> None:
        """Start again whatever a fault left stopped (after a fault whose end could not be carried out)."""
        if not self.redis.alive:
            self.redis.start()
        for service in [*self.workers.values(), *self.routers.values()]:
            if service.process is None or service.process.poll() is not None:
                service.start()

    def stop(self) -> None:
        for router in self.routers.values():
            router.stop()
        for worker in self.workers.values():
            worker.signal(signal.SIGCONT)  # a paused worker cannot handle SIGTERM
            worker.stop()
        self.redis.stop()
