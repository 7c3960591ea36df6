"""Starts and stops the processes of a local fleet in order, and leaves nothing running.

start: Redis (embedded unless a URL is given) -> every worker (each writes a ready file once it
serves and heartbeats) -> the predictor service, when the fleet file has a `predictor` section
(it publishes a model before it is ready) -> the planner service, when it has a `planner`
section (the router is given its address) -> the router (with `routers` > 1, the first, then
the others on its ports, sharing them by SO_REUSEPORT). stop: the routers first (health
NOT_SERVING, in-flight requests finish), then the planner, the predictor, the workers, Redis.
Children die with the supervisor even if it is killed outright, and a terminal's Ctrl-C reaches
the supervisor alone (`fleet.process_tree`), so no orphan keeps a port or a core and the order
holds. An embedded Redis that dies is restarted, empty, on its port and password: routers keep
their view through the gap and workers heartbeat into the new one.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fleet.embedded_redis import EmbeddedRedis
from fleet.process_tree import spawn_child
from interfleet.ready_file import wait_for_ready_file
from interfleet.security.redis_roles import worker_user

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    ready_file: Path

    def alive(self) -> bool:
        return self.process.poll() is None


class FleetSupervisor:
    def __init__(
        self,
        config_path: str,
        worker_ids: list[str],
        router_port: int | None,
        redis_url: str | None,
        run_dir: Path,
        ready_timeout_s: float = 120.0,
        log_level: str = "INFO",
        with_predictor: bool = False,
        with_planner: bool = False,
        routers: int = 1,
    ):
        self._config_path = config_path
        self._routers = routers
        self._worker_ids = worker_ids
        self._router_port = router_port
        self._redis_url = redis_url
        self._run_dir = Path(run_dir)
        self._ready_timeout_s = ready_timeout_s
        self._log_level = log_level
        self._with_predictor = with_predictor
        self._with_planner = with_planner
        self.planner: Child | None = None
        self._redis: EmbeddedRedis | None = None
        self.workers: list[Child] = []
        self.predictor: Child | None = None
        self.router: Child | None = None  # the first router; `routers` holds every one
        self.routers: list[Child] = []
        self.router_address = ""
        self.router_http_address = ""
        self.redis_url = ""

    @property
    def redis_pid(self) -> int | None:
        """The embedded redis-server's process id (None with an external Redis)."""
        return self._redis.pid if self._redis is not None else None

    def _spawn(self, name: str, args: list[str], role: str, env: dict[str, str] | None = None) -> Child:
        ready = self._run_dir / f"{name}.ready.json"
        ready.unlink(missing_ok=True)
        command = [
            sys.executable,
            "-m",
            "fleet",
            *args,
            "--ready-file",
            str(ready),
            "--log-level",
            self._log_level,
        ]
        # The Redis URL (it holds the password) goes through the environment, not the command line,
        # where any user of the machine could read it; with the embedded server, the role's own.
        url = self._redis.url_for(role) if self._redis is not None else self.redis_url
        process = spawn_child(command, env={**os.environ, **(env or {}), "REDIS_URL": url})
        return Child(name, process, ready)

    def _wait_ready(self, child: Child) -> dict:
        try:
            return wait_for_ready_file(child.ready_file, self._ready_timeout_s, child.alive)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{child.name} did not start: {exc} (its log is above)") from None

    def start(self) -> None:
        self._run_dir.mkdir(parents=True, exist_ok=True)
        if self._redis_url:
            self.redis_url = self._redis_url
        else:
            self._redis = EmbeddedRedis(self._run_dir / "redis", workers=tuple(self._worker_ids))
            self._redis.start()
            self.redis_url = self._redis.url
        common = ["--config", self._config_path]
        self.workers = [
            self._spawn(f"worker-{w}", ["worker", *common, "--worker-id", w], worker_user(w))
            for w in self._worker_ids
        ]
        for child in self.workers:
            info = self._wait_ready(child)
            log.info("%s ready on %s", child.name, info["address"])
        if self._with_predictor:
            self.predictor = self._spawn("predictor", ["predictor", "serve", *common], "predictor")
            info = self._wait_ready(self.predictor)
            log.info("predictor ready; model v%s published", info.get("version"))
        router_env = {}
        if self._with_planner:
            self.planner = self._spawn("planner", ["planner", "serve", *common], "planner")
            info = self._wait_ready(self.planner)
            log.info("planner ready on %s", info["address"])
            router_env["INTERFLEET_PLANNER_ADDRESS"] = info["address"]
        port = [] if self._router_port is None else ["--port", str(self._router_port)]
        self.router = self._spawn("router", ["router", *common, *port], "router", router_env)
        self.routers = [self.router]
        info = self._wait_ready(self.router)
        self.router_address, self.router_http_address = info["address"], info.get("http", "")
        # The others bind the first one's ports (it may have had ephemeral ones); each keeps a
        # metrics port of its own, ephemeral, when the first has one.
        shared = ["--port", info["address"].rpartition(":")[2]]
        shared += ["--http-port", info["http"].rpartition(":")[2] if info.get("http") else "-1"]
        shared += ["--metrics-port", "0" if info.get("metrics") else "-1"]
        for index in range(1, self._routers):
            self.routers.append(
                self._spawn(f"router-{index}", ["router", *common, *shared], "router", router_env)
            )
        for child in self.routers[1:]:
            self._wait_ready(child)

    def watch(self, stopping: Callable[[], bool]) -> int:
        """Block until `stopping()` or a router exits; report workers that exit, restart an
        embedded Redis that exits. Returns an exit code."""
        reported: set[str] = set()
        while not stopping():
            if self._redis is not None and not self._redis.alive():
                log.error(
                    "the embedded redis-server exited (code %s); restarting it, empty, on the same port "
                    "(routers keep their view meanwhile, workers heartbeat into the new one)",
                    self._redis.returncode,
                )
                try:
                    self._redis.start()
                except RuntimeError as exc:
                    log.error("%s; stopping the fleet", exc)
                    return 1
            for router in self.routers:
                if not router.alive():
                    log.error(
                        "%s exited (code %s); stopping the fleet", router.name, router.process.returncode
                    )
                    return 1
            for child in [*self.workers, *(c for c in (self.predictor, self.planner) if c is not None)]:
                if not child.alive() and child.name not in reported:
                    reported.add(child.name)
                    log.error(
                        "%s exited (code %s); the router routes around it",
                        child.name,
                        child.process.returncode,
                    )
            time.sleep(0.2)
        return 0

    def stop(self, grace: float) -> None:
        if self.routers:
            self._terminate(self.routers, grace)
        if self.planner is not None:
            self._terminate([self.planner], grace)
        if self.predictor is not None:
            self._terminate([self.predictor], grace)
        self._terminate(self.workers, grace)
        if self._redis is not None:
            self._redis.stop()
        log.info("fleet stopped")

    @staticmethod
    def _terminate(children: list[Child], grace: float) -> None:
        for child in children:
            if child.alive():
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace + 5.0
        for child in children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", child.name, grace + 5.0)
                child.process.kill()
                child.process.wait()
