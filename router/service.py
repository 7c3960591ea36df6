"""The router service: a view of the fleet, connections to its workers, and the client endpoints.

start: read the fleet from Redis -> serve gRPC, HTTP/REST and /metrics -> keep reading the fleet,
the published predictor model and the placement probes in supervised loops -> write the ready file.
stop, on both endpoints at once: health NOT_SERVING (HTTP readiness 400) -> `drain_s` later the
servers stop accepting (gRPC clients get GOAWAY) and let in-flight requests finish within `grace`
-> the loops stop -> the watcher and the worker channels close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from emulation.true_degradation import TrueDegradation
from interfleet.errors import ConfigError
from interfleet.kserve.byte_budget import COPIES, ByteBudget
from interfleet.kserve.endpoint import MAX_MESSAGE_BYTES, GrpcEndpoint
from interfleet.kserve.http_endpoint import HttpEndpoint
from interfleet.kserve.message_size import message_cap
from interfleet.kserve.service import SERVICE_NAME, add_inference_service
from interfleet.metrics_http import MetricsEndpoint
from interfleet.ready_file import write_ready_file
from interfleet.security.redis_access import redis_client
from interfleet.security.signing import fleet_sealer
from interfleet.security.tokens import TokenAuth, load_tokens
from interfleet.supervision import Supervisor
from interfleet.telemetry.keys import FleetKeys
from predictor.published_estimator import PublishedModelEstimator
from predictor.registry import ModelWatcher
from router.config import RouterConfig
from router.core import RouterCore
from router.departures import Departures
from router.dispatcher import Dispatcher
from router.fleet_view import FleetView
from router.fleet_watcher import FleetWatcher
from router.http_servicer import RouterHttpServicer, is_inference, is_repository_change
from router.interference import InterferenceDetector
from router.interference_marks import MarkPublisher
from router.planner_client import PlannerClient
from router.policies import Needs, make_policy
from router.repository import FleetRepository
from router.servicer import RAW_METHODS, RouterServicer
from router.stats import RouterCollector, RouterStats
from router.worker_pool import HopSettings, WorkerPool

log = logging.getLogger(__name__)

# Checked like any gRPC health service name; the router itself stays SERVING without a model.
PREDICTOR_HEALTH = "interfleet.predictor"


class RouterService:
    def __init__(self, config: RouterConfig):
        self.config = config
        self.stats = RouterStats()
        self.supervisor = Supervisor()
        self.pool = WorkerPool(
            HopSettings(config.worker_streams, config.stream_window, config.worker_transport),
            credentials=config.worker_tls.channel_credentials(),
            tls_name=config.worker_tls_name,
        )
        try:
            self.detector = InterferenceDetector(**config.interference)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"router interference settings {config.interference}: {exc}") from exc
        # The model watcher needs a Redis client, made in start(); the estimator reads it from there.
        self.predictor: ModelWatcher | None = None
        self.estimator: PublishedModelEstimator | None = None
        self._planner: PlannerClient | None = None
        if config.degradation == "emulator":
            # The true degradation: nothing outside the device model interferes, so no online correction.
            true = TrueDegradation.for_repository(
                Path(config.model_repository), config.emulation_seed, config.emulation_sharing
            )
            self.policy = make_policy(config.policy, config.policy_args, estimator=true)
        else:
            self.policy = make_policy(
                config.policy,
                config.policy_args,
                estimator=self._estimate,
                correction=self.detector.correction,
            )
        needs = self.policy.needs
        self._predicts = Needs.DEGRADATION in needs and config.degradation == "predictor"
        self._corrects = Needs.CORRECTION in needs and config.degradation == "predictor"
        self._probes = Needs.HOP in needs
        self.core = RouterCore(
            self.policy,
            config.eject_s,
            self.detector,
            hop_ms=self.pool.hop_ms,
            max_candidates=config.max_candidates,
        )
        self.dispatcher = Dispatcher(
            self.pool,
            self.core,
            self.stats,
            config.max_in_flight,
            config.decision_log_sample,
            max_attempts=config.max_attempts,
            default_timeout_s=config.default_timeout_s,
        )
        identity = config.worker_tls  # what the router shows workers is who it is
        self.sealer = fleet_sealer(config.fleet_ca, identity.cert, identity.key)
        tokens = load_tokens(config.auth_tokens, config.auth_tokens_file)
        self._auth = TokenAuth(tokens) if tokens else None
        self._interceptors = [self._auth] if self._auth else []
        self._credentials = config.tls.server_credentials()
        self.max_message_bytes = config.max_message_bytes or message_cap(
            Path(config.model_repository), MAX_MESSAGE_BYTES
        )
        # Never less than one request of the largest size at a time, whatever the setting.
        budget = config.max_request_bytes_in_flight
        self.request_budget = ByteBudget(max(budget, self.max_message_bytes * COPIES)) if budget else None
        self._departures = Departures(config.worker_expiry_s)
        self._watcher: FleetWatcher | None = None
        self._marks: MarkPublisher | None = None
        self._endpoint: GrpcEndpoint | None = None
        self._http: HttpEndpoint | None = None
        self._metrics: MetricsEndpoint | None = None

    @property
    def address(self) -> str:
        return self._endpoint.address if self._endpoint else ""

    @property
    def http_address(self) -> str:
        return self._http.address if self._http else ""

    async def _refresh_predictor(self) -> None:
        """Reload a newly published model; the health service's PREDICTOR_HEALTH entry says if one is usable."""
        status = await self.predictor.refresh_once()
        if self._endpoint is not None:
            await self._endpoint.set_component(PREDICTOR_HEALTH, status == "ok")

    def _estimate(self, placements):
        return self.estimator(placements) if self.estimator is not None else None

    def _on_view(self, view: FleetView) -> None:
        for worker_id in [w for w in self.detector.workers if w not in view.workers]:
            self.detector.forget(worker_id)
        self.detector.track(view.workers)
        self._departures.update(view.workers, self.stats.forget_worker)
        self.pool.update(view)
        self.core.update(view)
        self.dispatcher.on_view()

    async def _refresh(self) -> None:
        await self._refresh_predictor()
        if self._predicts:
            await self.estimator.prepare(self.core.view.by_model)
        if self._corrects:
            await self._marks.publish_once()
        if self._probes:
            await self.pool.probe()

    async def start(self) -> None:
        config = self.config
        client = redis_client(
            config.redis_url, config.redis_password_file, socket_timeout=2, socket_connect_timeout=2
        )
        keys = FleetKeys(config.fleet)
        # Every router loads each published model, so its status and version are visible whatever
        # the policy; only the interference-aware policy consults it.
        self.predictor = ModelWatcher(
            client,
            keys,
            config.predictor_max_age_s,
            sealer=self.sealer,
            max_bytes=config.max_predictor_model_bytes,
            refused=self.stats.refused,
        )
        self.estimator = PublishedModelEstimator(self.predictor, Path(config.model_repository))
        self._marks = MarkPublisher(client, keys, self.detector, sealer=self.sealer)
        await self.predictor.refresh_once()
        self._watcher = FleetWatcher(
            client,
            keys,
            self._on_view,
            hold_s=config.worker_hold_s,
            max_age_s=config.max_record_age_s,
            sealer=self.sealer,
            allowed=frozenset(config.allowed_workers),
            refused=self.stats.refused,
        )
        await self._watcher.refresh_once()
        if self._predicts:
            await self.estimator.prepare(self.core.view.by_model)

        watcher = self._watcher
        self._planner = (
            # the router's worker-facing identity, verified against the fleet's CA, as to workers
            PlannerClient(config.planner_address, config.worker_tls.channel_credentials())
            if config.planner_address
            else None
        )
        repository = FleetRepository(
            self._planner, lambda: self.core.view, watcher.refresh_once, self.dispatcher.unloaded
        )

        def register(server: grpc.aio.Server) -> list[str]:
            add_inference_service(
                server,
                RouterServicer(self.dispatcher, self.request_budget, self.max_message_bytes, repository),
                raw_methods=RAW_METHODS,
                budget=self.request_budget,
                max_message_bytes=self.max_message_bytes,
            )
            return [SERVICE_NAME]

        self._endpoint = GrpcEndpoint(
            config.host,
            config.port,
            register,
            self._credentials,
            self._interceptors,
            self.max_message_bytes,
            max_concurrent_calls=config.max_concurrent_calls,
            drain_s=config.drain_s,
            calls_started=lambda: self.dispatcher.started,
            reuse_port=config.processes > 1,
        )
        await self._endpoint.start()
        await self._endpoint.set_component(PREDICTOR_HEALTH, self.predictor.status == "ok")
        servicer = RouterHttpServicer(
            self.dispatcher, draining=lambda: self._http.draining, repository=repository
        )
        self._http = HttpEndpoint(
            config.host,
            config.http_port,
            servicer.add_routes,
            ssl_context=config.tls.server_ssl_context(),
            auth=self._auth,
            is_inference=is_inference,
            is_change=is_repository_change,
            max_message_bytes=self.max_message_bytes,
            max_concurrent_calls=config.max_concurrent_calls,
            drain_s=config.drain_s,
            budget=self.request_budget,
            reuse_port=config.processes > 1,
        )
        await self._http.start()
        registry = CollectorRegistry()
        registry.register(
            RouterCollector(
                self.stats,
                lambda: len(self.core.view.workers),
                lambda: time.time() - self._watcher.last_refresh if self._watcher.last_refresh else -1.0,
                lambda: (self.predictor.version, self.predictor.status),
                supervisor=self.supervisor,
                detector=self.detector if self._corrects else None,
                fallbacks=lambda: self.policy.fallbacks,
            )
        )
        self._metrics = MetricsEndpoint(registry, config.host, config.metrics_port)
        await self._metrics.start()
        self.supervisor.on_health = self._endpoint.set_serving
        self.supervisor.loop("fleet-view", self._watcher.refresh_once, every_s=config.refresh_interval_s)
        self.supervisor.loop("predictor-and-placement", self._refresh, every_s=config.refresh_interval_s)
        write_ready_file(
            config.ready_file, address=self.address, http=self.http_address, metrics=self._metrics.address
        )
        log.info(
            "router serving gRPC on %s and HTTP on %s with policy %s; %d worker(s) in view; %s; "
            "messages up to %.1f MiB",
            self.address,
            self.http_address or "(off)",
            config.policy,
            len(self.core.view.workers),
            self._security_summary(),
            self.max_message_bytes / 2**20,
        )

    def _security_summary(self) -> str:
        config = self.config
        parts = [
            "mTLS" if config.tls_client_ca else "TLS" if config.tls_cert else "plaintext",
            "token auth" if self._interceptors else "no client auth",
            "signed registrations"
            if self.sealer.enabled
            else "allow-listed workers"
            if config.allowed_workers
            else "any registered worker",
            "TLS to workers" if config.tls_ca else "plaintext to workers",
        ]
        return ", ".join(parts)

    async def stop(self, grace: float) -> None:
        # Health first and the loops last: in-flight calls finish with a current view of the fleet.
        await asyncio.gather(
            *(endpoint.stop(grace) for endpoint in (self._endpoint, self._http) if endpoint is not None)
        )
        await self.supervisor.stop()
        if self._watcher is not None:
            await self._watcher.close()
        await self.pool.close(grace=1.0)
        if self._planner is not None:
            await self._planner.close()
        if self._metrics is not None:
            await self._metrics.stop()
        log.info("router stopped")
