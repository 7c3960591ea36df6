"""The worker service: loads its models, serves them, heartbeats, and stops in order.

start: load and warm up every model (one that cannot be loaded is reported UNAVAILABLE with
why, and the others are served, unless `exit_on_error`) -> start the execution threads -> serve gRPC and /metrics
-> publish to Redis (now routers can see it), then heartbeat -> write the ready file. The
batching loops and the heartbeat run under one `Supervisor`, which turns health NOT_SERVING
while one of them keeps failing.
stop: health NOT_SERVING and the heartbeat's last word, not ready (routers stop sending) -> routers'
streams refuse new requests and end once theirs are answered -> the gRPC server stops accepting
and lets in-flight calls finish within `grace` -> runners drain -> telemetry flushes its last records.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from emulation.gpus import is_emulated
from interfleet.errors import ModelNotFound, ServingError, Unavailable
from interfleet.kserve.endpoint import MAX_MESSAGE_BYTES, GrpcEndpoint
from interfleet.kserve.message_size import FRAMING_BYTES, request_cap
from interfleet.kserve.service import SERVICE_NAME, add_inference_service
from interfleet.metrics_http import MetricsEndpoint
from interfleet.multiplex import frames
from interfleet.multiplex.server import MultiplexedInferService
from interfleet.multiplex.sockets import FramesListener
from interfleet.proto import fleet_pb2, fleet_pb2_grpc
from interfleet.ready_file import write_ready_file
from interfleet.repository import ModelSpec, expand_models, list_models, load_spec
from interfleet.security.peer_identity import PeerIdentity
from interfleet.security.redis_access import redis_client
from interfleet.security.signing import fleet_sealer
from interfleet.supervision import Supervisor
from interfleet.telemetry.keys import FleetKeys
from interfleet.telemetry.publisher import TelemetryPublisher
from services.worker import device
from services.worker.activity import DeviceActivity
from services.worker.batching import LatencyProfile, make_batcher, settings
from services.worker.config import WorkerConfig
from services.worker.loaded_model import LoadedModel, WarmUpStopped
from services.worker.metrics import WorkerCollector
from services.worker.runner import ModelRunner
from services.worker.servicer import RAW_METHODS, InferenceServicer, WorkerControlServicer
from services.worker.worker import Worker

log = logging.getLogger(__name__)

# WorkerControl's methods, which the planner's identity may call (it moves models, it cannot infer)
CONTROL_METHODS = f"/{fleet_pb2.DESCRIPTOR.services_by_name['WorkerControl'].full_name}/"
UNLOAD_GRACE_S = 10.0  # how long an unloading model's queued requests get to finish


class WorkerService:
    def __init__(self, config: WorkerConfig):
        self.config = config
        self.worker: Worker | None = None
        self._device_info: fleet_pb2.DeviceInfo | None = None
        self._endpoint: GrpcEndpoint | None = None
        self._multiplexed: MultiplexedInferService | None = None
        self._frames: FramesListener | None = None
        self._metrics: MetricsEndpoint | None = None
        self._publisher: TelemetryPublisher | None = None
        self.supervisor = Supervisor()
        self._started_at = 0.0
        self._unavailable: list[fleet_pb2.UnavailableModel] = []  # configured, could not be loaded
        self._stopping = threading.Event()  # set by stop(): a model still warming up gives up
        self._sequence = 0
        self._load: Callable[[ModelSpec], LoadedModel] | None = None
        self._activity = DeviceActivity()
        self._transitions: dict[str, fleet_pb2.ModelTransition] = {}  # LOADING / UNLOADING now
        self._message_cap = MAX_MESSAGE_BYTES

    @property
    def address(self) -> str:
        """The address routers dial, as published in Redis."""
        if self._endpoint is None:
            return ""
        return (
            f"{self.config.advertise_host}:{self._endpoint.port}"
            if self.config.advertise_host
            else self._endpoint.address
        )

    @property
    def frames_address(self) -> str:
        """Where routers may send frames over TCP, as published in Redis ("" when not offered)."""
        if self._frames is None:
            return ""
        return f"{self.config.advertise_host or self.config.host}:{self._frames.port}"

    async def start(self) -> None:
        config = self.config
        self._started_at = time.time()
        self._device_info = device.describe(config)
        load = self._load = device.model_loader(config)
        activity = self._activity
        runners: dict[str, ModelRunner] = {}
        for name in expand_models(config.models, Path(config.model_repository)):
            try:
                runners[name] = await self._load_runner(name, load, activity)
            except WarmUpStopped:
                raise
            except Exception as exc:
                if config.exit_on_error:
                    raise
                reason = str(exc) or type(exc).__name__
                log.error(
                    "model %s cannot be served, serving the others (exit_on_error: false): %s", name, reason
                )
                self._unavailable.append(fleet_pb2.UnavailableModel(name=name, reason=reason))
        for runner in runners.values():
            await runner.start(self.supervisor)
        self.worker = Worker(config.worker_id, runners, unavailable=self._unavailable)

        self._multiplexed = MultiplexedInferService(self.worker.infer, config.worker_id)

        def register(server: grpc.aio.Server) -> list[str]:
            add_inference_service(server, InferenceServicer(self.worker), raw_methods=RAW_METHODS)
            fleet_pb2_grpc.add_WorkerControlServicer_to_server(WorkerControlServicer(self), server)
            return [
                SERVICE_NAME,
                fleet_pb2.DESCRIPTOR.services_by_name["WorkerControl"].full_name,
                self._multiplexed.register(server),
            ]

        self._message_cap = worker_message_cap(self.worker.hosted)
        self._endpoint = GrpcEndpoint(
            config.host,
            config.port,
            register,
            config.tls.server_credentials(),
            # With mutual TLS, only fleet services' certificates, not a client's, may call in.
            [PeerIdentity(config.allowed_peers, {CONTROL_METHODS: config.allowed_controllers})]
            if config.tls_client_ca
            else [],
            max_message_bytes=self._message_cap,
            max_concurrent_calls=config.max_concurrent_calls,
        )
        await self._endpoint.start()
        if config.frames_port >= 0 and config.tls_cert is None:
            self._frames = FramesListener(
                self._multiplexed, config.host, config.frames_port, self._message_cap
            )
            await self._frames.start()
        elif config.frames_port > 0:
            log.warning(
                "frames_port %d not opened: it has no TLS, and this worker serves TLS", config.frames_port
            )
        self.supervisor.on_health = self._endpoint.set_serving
        registry = CollectorRegistry()
        registry.register(WorkerCollector(config.worker_id, runners, self.supervisor))
        self._metrics = MetricsEndpoint(registry, config.host, config.metrics_port)
        await self._metrics.start()
        self.worker.ready = True
        if config.redis_url:
            client = redis_client(
                config.redis_url, config.redis_password_file, socket_timeout=2, socket_connect_timeout=2
            )
            self._publisher = TelemetryPublisher(
                client,
                FleetKeys(config.fleet),
                config.worker_id,
                self.state,
                config.heartbeat_interval_s,
                config.state_ttl_s,
                config.batch_stream_maxlen,
                sealer=fleet_sealer(config.fleet_ca, config.tls_cert, config.tls_key, checks=False),
            )
            await self._publisher.publish_once()
            self.supervisor.loop(
                "heartbeat", self._publisher.publish_once, every_s=config.heartbeat_interval_s
            )
        else:
            log.warning("no redis_url: telemetry is off, so no router will discover this worker by itself")
        write_ready_file(
            config.ready_file,
            worker_id=config.worker_id,
            address=self.address,
            frames=self.frames_address,
            metrics=self._metrics.address,
        )
        log.info(
            "worker %s serving %s on %s%s",
            config.worker_id,
            ", ".join(runners) or "no model",
            self.address,
            f"; unavailable: {', '.join(m.name for m in self._unavailable)}" if self._unavailable else "",
        )

    async def load_model(self, name: str, max_batch_size: int = 0) -> fleet_pb2.WorkerState:
        """Load a model of the repository at runtime: load, warm every batch size, then serve it,
        and heartbeat at once so routers see it. A model already served is left as it is."""
        worker = self.worker
        if worker is None or self._load is None or not worker.ready:
            raise Unavailable(f"worker {self.config.worker_id} is not serving: it cannot load '{name}' now")
        if name in self._transitions:
            raise Unavailable(
                f"model '{name}' is {self._transitions[name].state.lower()} on {self.config.worker_id}"
            )
        if worker.hosts(name):
            return self.state()
        if name not in list_models(Path(self.config.model_repository)):
            raise ModelNotFound(f"model '{name}' is not in the repository of worker {self.config.worker_id}")
        self._transitions[name] = fleet_pb2.ModelTransition(name=name, state="LOADING", reason="loading")
        try:
            runner = await self._load_runner(name, self._load, self._activity, max_batch_size)
            needed = request_cap(runner.model.to_proto())
            if (MAX_MESSAGE_BYTES if needed is None else needed) > self._message_cap:
                raise Unavailable(
                    f"model '{name}' takes requests larger than this worker's message cap "
                    f"({self._message_cap} bytes, set at start): restart the worker to host it"
                )
            await runner.start(self.supervisor)
        except ServingError:
            raise
        except WarmUpStopped:
            raise Unavailable(
                f"worker {self.config.worker_id} is stopping: '{name}' was not loaded"
            ) from None
        except Exception as exc:  # noqa: BLE001 - any load failure is reported to the caller, as at start
            reason = str(exc) or type(exc).__name__
            log.error("model %s could not be loaded at runtime: %s", name, reason)
            raise Unavailable(
                f"model '{name}' could not be loaded on {self.config.worker_id}: {reason}"
            ) from None
        finally:
            self._transitions.pop(name, None)
        worker.add(name, runner)
        log.info("worker %s now serves %s (loaded at runtime)", self.config.worker_id, name)
        await self._announce()
        return self.state()

    async def unload_model(self, name: str, drain_s: float) -> fleet_pb2.WorkerState:
        """Take a model out without losing a request: unlisted from the next heartbeat (sent at
        once), requests that still arrive within `drain_s` are answered, then it stops taking
        requests (later ones are UNAVAILABLE, which routers retry on another worker), finishes
        those queued (within UNLOAD_GRACE_S) and unloads."""
        worker = self.worker
        if worker is None or name not in worker.runners:
            raise ModelNotFound(f"model '{name}' is not hosted on worker {self.config.worker_id}")
        if name in self._transitions:
            raise Unavailable(
                f"model '{name}' is {self._transitions[name].state.lower()} on {self.config.worker_id}"
            )
        self._transitions[name] = fleet_pb2.ModelTransition(name=name, state="UNLOADING", reason="draining")
        try:
            worker.withdraw(name)
            await self._announce()
            await asyncio.sleep(max(0.0, drain_s))
            # Stop taking its requests (a late one is UNAVAILABLE: its router retries elsewhere),
            # let those queued finish, then unload it.
            runner = worker.runners[name]
            await runner.stop(grace=UNLOAD_GRACE_S)
            worker.remove(name)
            await self.supervisor.stop_loop(f"runner-{name}")
        finally:
            self._transitions.pop(name, None)
        log.info("worker %s unloaded %s", self.config.worker_id, name)
        await self._announce()
        return self.state()

    async def _announce(self) -> None:
        """Heartbeat now (a model came or went), rather than at the next tick."""
        if self._publisher is not None:
            try:
                await self._publisher.publish_once()
            except Exception as exc:  # noqa: BLE001 - the heartbeat loop will say it again
                log.warning("heartbeat after a model change failed (the next tick retries): %s", exc)

    async def _load_runner(
        self,
        name: str,
        load: Callable[[ModelSpec], LoadedModel],
        activity: DeviceActivity,
        max_batch_size: int = 0,
    ) -> ModelRunner:
        """Load, warm up and profile one model; raises what stops it from being served.
        `max_batch_size` (a plan's cap) lowers its batching limit, never raises it."""
        config = self.config
        spec = load_spec(Path(config.model_repository), name)
        batching = settings.resolve(spec, config.batching)
        if max_batch_size > 0 and batching.max_batch_size > max_batch_size:
            batching = dataclasses.replace(batching, max_batch_size=max_batch_size)
        batcher = make_batcher(batching.policy, batching.max_batch_size, spec.slo_ms / 1e3, batching.args)
        # Loading and warming up run off the event loop, so a stop signal is heard while a
        # model loads: `stop` sets `_stopping`, and the warm-up gives up before its next run.
        model = await asyncio.to_thread(load, spec)
        profile = LatencyProfile(spec.batch_limit)
        # Clients may send batches up to the model's maximum whatever the policy: warm them all.
        profile.seed(
            await asyncio.to_thread(
                model.measure_profile,
                spec.batch_limit,
                warm_every_size=not is_emulated(config.device),
                stopping=self._stopping,
            )
        )
        await asyncio.to_thread(model.measure_solo)
        log.info(
            "loaded %s on %s: %s batching up to %d, %.2f ms at batch 1, %.2f ms at %d",
            name,
            config.device,
            batching.policy,
            batcher.max_batch_size,
            profile.latency(1) * 1e3,
            profile.latency(batcher.max_batch_size) * 1e3,
            batcher.max_batch_size,
        )
        return ModelRunner(
            model,
            config.worker_id,
            config.device,
            activity,
            self._record_batch,
            config.max_queue,
            batcher,
            profile,
            batching.late,
            return_hop_s=config.return_hop_ms / 1e3,
        )

    def _record_batch(self, record: fleet_pb2.BatchRecord) -> None:
        if self._publisher is not None:
            self._publisher.record_batch(record)

    def state(self) -> fleet_pb2.WorkerState:
        self._sequence += 1
        worker = self.worker
        return fleet_pb2.WorkerState(
            worker_id=self.config.worker_id,
            address=self.address,
            device=self._device_info,
            models=worker.hosted if worker else [],
            load=worker.load() if worker else [],
            started_at=self._started_at,
            heartbeat_at=time.time(),
            ready=bool(worker and worker.ready),
            metrics_address=self._metrics.address if self._metrics else "",
            sequence=self._sequence,
            unavailable=self._unavailable,
            transitions=list(self._transitions.values()),
            frames_address=self.frames_address,
        )

    async def stop(self, grace: float) -> None:
        self._stopping.set()
        if self.worker is not None:
            self.worker.ready = False
        if self._endpoint is not None:
            self.supervisor.on_health = None  # stopping: nothing may flip health back to SERVING
            await self._endpoint.set_serving(False)
        if self._publisher is not None:
            await self.supervisor.stop_loop("heartbeat")
            await self._publisher.deregister()
        if self._multiplexed is not None:
            self._multiplexed.drain()  # routers' streams end once their requests are answered
        # Both transports' streams end as their requests are answered, within the same grace.
        await asyncio.gather(*(e.stop(grace) for e in (self._endpoint, self._frames) if e is not None))
        if self.worker is not None:
            for runner in self.worker.runners.values():
                await runner.stop(grace)
        await self.supervisor.stop()
        if self._publisher is not None:
            await self._publisher.stop()
        if self._metrics is not None:
            await self._metrics.stop()
        log.info("worker %s stopped", self.config.worker_id)


def worker_message_cap(models: list[fleet_pb2.HostedModel]) -> int:
    """The largest message this worker accepts: its own models' largest valid request, and never
    less than a router's joined frames; the ceiling only when a model's requests are unbounded
    (a dynamic dimension, or BYTES). A 200 MiB request for a 32 KB model once added 670 MB here."""
    caps = [request_cap(model) for model in models]
    if not caps or None in caps:
        return MAX_MESSAGE_BYTES
    return min(MAX_MESSAGE_BYTES, max(max(caps), frames.JOIN_LIMIT_BYTES + FRAMING_BYTES))
