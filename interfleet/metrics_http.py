"""A Prometheus /metrics endpoint over HTTP with its own registry, started and stopped explicitly."""

from __future__ import annotations

import logging

from prometheus_client import CollectorRegistry, start_http_server

from interfleet.errors import ConfigError

log = logging.getLogger(__name__)


class MetricsEndpoint:
    """Serves `registry` on host:port (0: ephemeral). A port of -1 disables it."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int):
        self.registry = registry
        self._host = host
        self._port = port
        self._server = None
        self._thread = None
        self.port: int | None = None

    @property
    def address(self) -> str:
        return f"{self._host}:{self.port}" if self.port else ""

    async def start(self) -> None:
        if self._port < 0:
            return
        try:
            self._server, self._thread = start_http_server(
                self._port, addr=self._host, registry=self.registry
            )
        except OSError as exc:
            raise ConfigError(
                f"metrics_port: cannot listen on {self._host}:{self._port}: {exc.strerror}"
            ) from None
        self.port = self._server.server_address[1]
        log.info("metrics on http://%s/metrics", self.address)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None
