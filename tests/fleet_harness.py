"""Start a real local fleet (`interfleet up`: redis-server, workers, router) for a test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from interfleet.ready_file import wait_for_ready_file


class Fleet:
    def __init__(
        self,
        root: Path,
        repository: Path,
        workers: list[dict],
        router: dict | None = None,
        predictor: dict | None = None,
        shared: dict | None = None,
    ):
        self.root = root
        self.run_dir = root / "run"
        self.config_path = root / "fleet.yaml"
        self.config = config = {
            "fleet": "test",
            "model_repository": str(repository),
            "router": {
                "metrics_port": 0,
                "http_port": 0,
                "refresh_interval_s": 0.1,
                "worker_hold_s": 1.0,
                **(router or {}),
            },
            "workers": [
                {"metrics_port": 0, "heartbeat_interval_s": 0.2, "state_ttl_s": 1.0, **w} for w in workers
            ],
            **(shared or {}),  # top-level keys every service inherits (TLS files, the fleet CA)
        }
        if predictor is not None:
            config["predictor"] = predictor
        self.write_config()
        self.worker_ids = [w["worker_id"] for w in workers]
        self._serving = workers_by_model(workers)
        self.models = set(self._serving)
        self.process: subprocess.Popen | None = None
        self.address = ""
        self.http_address = ""
        self.redis_url = ""
        self.info: dict = {}  # `interfleet up`'s ready file
        self.log = root / "fleet.log"

    def write_config(self) -> None:
        """(Re)write the fleet file from `self.config`, for a test that changes it before `start`."""
        self.config_path.write_text(yaml.safe_dump(self.config))

    def start(self, timeout_s: float = 60.0, env_redis: bool = False, router_port: int | None = 0) -> Fleet:
        """Start `interfleet up`; with `env_redis` it uses $REDIS_URL, else it embeds its own Redis.
        The router listens on an ephemeral port unless `router_port` says otherwise (None: the
        fleet file's `router.port`)."""
        ready = self.root / "up.ready.json"
        dropped = ("INTERFLEET_ROUTER_PORT",) if env_redis else ("REDIS_URL", "INTERFLEET_ROUTER_PORT")
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet",
                "up",
                "--config",
                str(self.config_path),
                *([] if router_port is None else ["--router-port", str(router_port)]),
                "--run-dir",
                str(self.run_dir),
                "--ready-file",
                str(ready),
                "--grace",
                "5",
            ],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,  # as a shell runs it: a test can send its group what a terminal's Ctrl-C sends
        )
        try:
            info = wait_for_ready_file(ready, timeout_s, lambda: self.process.poll() is None)
        except Exception:  # noqa: BLE001 - whatever stopped it, stop what started and show its log
            self.stop()
            raise RuntimeError(f"fleet did not start:\n{self.log.read_text()[-4000:]}") from None
        self.address, self.redis_url = info["address"], info["redis_url"]
        self.http_address = info["http"]
        self.info = info
        return self

    def start_router(
        self, name: str, flags: list[str] = (), settings: dict | None = None, timeout_s: float = 30.0
    ) -> tuple[subprocess.Popen, dict]:
        """Another router over this fleet (its Redis, its config) with extra command-line `flags`
        and router `settings` (as INTERFLEET_ROUTER_* variables); returns the process and its
        ready file (address, metrics) once it serves. The caller stops it."""
        ready = self.root / f"router-{name}.ready.json"
        ready.unlink(missing_ok=True)  # a router started again under its name must not read the old one's
        env = {
            **os.environ,
            **{
                f"INTERFLEET_ROUTER_{k.upper()}": v if isinstance(v, str) else json.dumps(v)
                for k, v in (settings or {}).items()
            },
        }
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleet",
                "router",
                "--config",
                str(self.config_path),
                "--redis-url",
                self.redis_url,
                "--port",
                "0",
                "--http-port",
                "0",
                "--ready-file",
                str(ready),
                *flags,
            ],
            stdout=(self.root / f"router-{name}.log").open("w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            return process, wait_for_ready_file(ready, timeout_s, lambda: process.poll() is None)
        except Exception:  # noqa: BLE001 - whatever stopped it, stop it and show its log
            process.kill()
            process.wait()
            log = (self.root / f"router-{name}.log").read_text()[-3000:]
            raise RuntimeError(f"router {name} did not start:\n{log}") from None

    def workers_serving(self, model: str) -> set[str]:
        return self._serving[model]

    def worker(self, worker_id: str) -> dict:
        return json.loads((self.run_dir / f"worker-{worker_id}.ready.json").read_text())

    def router(self) -> dict:
        return json.loads((self.run_dir / "router.ready.json").read_text())

    def info_of(self, service: str) -> dict:
        """The ready file of a service `up` started (router, predictor, planner)."""
        return json.loads((self.run_dir / f"{service}.ready.json").read_text())

    def pids(self) -> list[int]:
        files = [self.run_dir / f"worker-{w}.ready.json" for w in self.worker_ids]
        files.append(self.run_dir / "router.ready.json")
        return [json.loads(f.read_text())["pid"] for f in files if f.exists()]

    def stop(self, timeout_s: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def lone_worker_command(models: str, repository: Path, *flags: str) -> list[str]:
    """`interfleet worker` on its own, outside any fleet (its Redis unreachable, which it survives)."""
    return [
        sys.executable,
        "-m",
        "fleet",
        "worker",
        "--worker-id",
        "w",
        "--models",
        models,
        "--model-repository",
        str(repository),
        "--redis-url",
        "redis://127.0.0.1:1",
        *flags,
    ]


def workers_by_model(workers: list[dict]) -> dict[str, set[str]]:
    """Model -> ids of the workers (config entries) that host it."""
    serving: dict[str, set[str]] = {}
    for worker in workers:
        for model in worker["models"]:
            serving.setdefault(model, set()).add(worker["worker_id"])
    return serving


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (dead, not yet reaped by its parent) still answers signal 0: read its state, which
    # follows the command name in parentheses (a name may hold spaces).
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition, timeout_s: float) -> bool:
    """Poll `condition` every 0.1 s until it holds or `timeout_s` passes; whether it held."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()
