"""The router service: a view of the fleet, connections to its workers, and the gRPC endpoint.

start: read the fleet from Redis (and keep reading in the background) -> serve gRPC and /metrics
-> write the ready file.
stop: health NOT_SERVING -> the server stops accepting and lets in-flight requests finish within
`grace` -> the watcher and the worker channels close.
"""

from __future__ import annotations

import logging
import time

import grpc
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from interfleet.kserve.endpoint import GrpcEndpoint
from interfleet.kserve.service import SERVICE_NAME, add_inference_service
from interfleet.metrics_http import MetricsEndpoint
from interfleet.predictor.registry import ModelWatcher
from interfleet.ready_file import write_ready_file
from interfleet.router.config import RouterConfig
from interfleet.router.dispatcher import Dispatcher
from interfleet.router.fleet_view import FleetView, FleetWatcher
from interfleet.router.policies import make_policy
from interfleet.router.servicer import RAW_METHODS, RouterServicer
from interfleet.router.stats import RouterCollector, RouterStats
from interfleet.router.worker_pool import WorkerPool
from interfleet.telemetry.keys import FleetKeys

log = logging.getLogger(__name__)

# Checked like any gRPC health service name; the router itself stays SERVING without a model.
PREDICTOR_HEALTH = "interfleet.predictor"


class RouterService:
    def __init__(self, config: RouterConfig):
        self.config = config
        self.stats = RouterStats()
        self.pool = WorkerPool(config.eject_s)
        self.dispatcher = Dispatcher(self.pool, make_policy(config.policy, config.policy_args), self.stats,
                                     config.max_in_flight)
        self._watcher: FleetWatcher | None = None
        self.predictor: ModelWatcher | None = None
        self._endpoint: GrpcEndpoint | None = None
        self._metrics: MetricsEndpoint | None = None

    @property
    def address(self) -> str:
        return self._endpoint.address if self._endpoint else ""

    async def _refresh_predictor(self) -> None:
        """Reload a newly published model; the health service's PREDICTOR_HEALTH entry says if one is usable."""
        status = await self.predictor.refresh_once()
        if self._endpoint is not None:
            await self._endpoint.set_component(PREDICTOR_HEALTH, status == "ok")

    def _on_view(self, view: FleetView) -> None:
        self.pool.update(view)
        self.dispatcher.on_view()

    async def start(self) -> None:
        config = self.config
        client = aioredis.from_url(config.redis_url, socket_timeout=2, socket_connect_timeout=2)
        keys = FleetKeys(config.fleet)
        # The routing policies of this release do not consult the predictor yet; the router
        # already loads each published model so that status and version are visible.
        self.predictor = ModelWatcher(client, keys, config.predictor_max_age_s)
        await self.predictor.refresh_once()
        self._watcher = FleetWatcher(client, keys, config.refresh_interval_s, self._on_view,
                                     also_refresh=self._refresh_predictor)
        await self._watcher.start()

        def register(server: grpc.aio.Server) -> list[str]:
            add_inference_service(server, RouterServicer(self.dispatcher), raw_methods=RAW_METHODS)
            return [SERVICE_NAME]

        self._endpoint = GrpcEndpoint(config.host, config.port, register)
        await self._endpoint.start()
        await self._endpoint.set_component(PREDICTOR_HEALTH, self.predictor.status == "ok")
        registry = CollectorRegistry()
        registry.register(RouterCollector(
            self.stats, lambda: len(self.pool.view.workers),
            lambda: time.time() - self._watcher.last_refresh if self._watcher.last_refresh else -1.0,
            lambda: (self.predictor.version, self.predictor.status),
        ))
        self._metrics = MetricsEndpoint(registry, config.host, config.metrics_port)
        await self._metrics.start()
        write_ready_file(config.ready_file, address=self.address, metrics=self._metrics.address)
        log.info("router serving on %s with policy %s; %d worker(s) in view",
                 self.address, config.policy, len(self.pool.view.workers))

    async def stop(self, grace: float) -> None:
        if self._endpoint is not None:
            await self._endpoint.stop(grace)
        if self._watcher is not None:
            await self._watcher.stop()
        await self.pool.close(grace=1.0)
        if self._metrics is not None:
            await self._metrics.stop()
        log.info("router stopped")
