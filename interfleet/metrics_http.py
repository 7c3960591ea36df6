"""A Prometheus /metrics endpoint over HTTP with its own registry, started and stopped explicitly.

It serves `/metrics` only (with Triton's counter names, `interfleet.metrics_exposition`); any
other path is 404, so nothing mistakes the metrics port for a health or inference endpoint (a
probe of `/v2/health/ready` here must fail, as on Triton's metrics port).
"""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry

from interfleet.errors import ConfigError
from interfleet.metrics_exposition import CONTENT_TYPE, exposition

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
            self._server = ThreadingHTTPServer((self._host, self._port), _handler(self.registry))
        except OSError as exc:
            raise ConfigError(
                f"metrics_port: cannot listen on {self._host}:{self._port}: {exc.strerror}"
            ) from None
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()
        self.port = self._server.server_address[1]
        log.info("metrics on http://%s/metrics", self.address)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None


def _handler(registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._reply(404, b"only /metrics is served on this port\n", "text/plain; charset=utf-8")
                return
            self._reply(200, exposition(registry), CONTENT_TYPE)

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:
            pass

    return MetricsHandler
