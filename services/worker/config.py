"""The worker's configuration (one typed object, built once in `main`)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from emulation.device_model import SHARING
from emulation.gpus import UnknownGpu, gpu, is_emulated
from interfleet.config import config_class, env_aliases
from interfleet.errors import ConfigError
from interfleet.security.tls import TlsFiles

ENV_PREFIX = "INTERFLEET_WORKER_"


@config_class
class WorkerConfig:
    worker_id: str
    models: tuple[str, ...]  # names in the repository; "*": every model it holds
    model_repository: str = "model_repository"
    host: str = "127.0.0.1"  # address to bind (0.0.0.0 in containers)
    port: int = 0  # 0: an ephemeral port, published in Redis
    advertise_host: str | None = None  # host routers should dial (a service name, a pod IP); default: host
    metrics_port: int = 0  # Prometheus /metrics; 0: ephemeral; -1: off
    # Routers' multiplexed frames on plain TCP (`interfleet.multiplex.sockets`), cheaper per
    # request than a gRPC stream; 0: ephemeral; -1: off. Never opened with TLS (it has none).
    frames_port: int = 0
    device: str = "cpu"  # "cpu", "cuda:N", or "emulated:<type>" (e.g. emulated:A100)
    # An emulated GPU (emulation): the seed of its hidden per-model factors (one per
    # fleet, so its workers agree on them), MPS or time-slicing, and how much slower than device
    # time it runs on the wall clock.
    emulation_seed: int = 0
    emulation_sharing: str = "mps"
    emulation_time_scale: float = 1.0
    threads: int = 1  # ONNX Runtime intra-op threads per model (CPU)
    cpus: tuple[int, ...] = ()  # CPU set to pin the worker to; empty: all cores
    allow_spinning: bool = False  # ORT busy-wait threads: lower latency, more interference
    max_queue: int = 256  # per model; beyond it requests get RESOURCE_EXHAUSTED
    # The answer's way back (worker -> router -> client), which batching subtracts from every
    # deadline: a batch that ends at the SLO delivers late. 0.5 ms is what the router adds to
    # p50 on loopback (`make bench-router`); set the fleet's own figure across hosts.
    return_hop_ms: float = 0.5
    # A model that cannot be loaded: false (Triton's --exit-on-error=false) reports it UNAVAILABLE
    # with its reason and serves the rest; true stops the worker with the error (Triton's default).
    exit_on_error: bool = False
    # Calls the gRPC server holds at once (a router's multiplexed stream is one; direct clients'
    # unary calls one each); the next is refused RESOURCE_EXHAUSTED before any handler runs.
    max_concurrent_calls: int = 1024
    # Per-model batching overrides of the repository's config.yaml; key "*" applies to all models.
    # e.g. {"*": {"policy": "fixed", "max_delay_ms": 2}, "mlp": {"policy": "none"}}
    batching: dict[str, Any] = field(default_factory=dict)
    redis_url: str | None = field(default=None, metadata=env_aliases("REDIS_URL"))
    redis_password_file: str | None = field(default=None, metadata=env_aliases("REDIS_PASSWORD_FILE"))
    fleet: str = field(default="default", metadata=env_aliases("INTERFLEET_FLEET"))
    heartbeat_interval_s: float = 0.5
    state_ttl_s: float = 3.0
    batch_stream_maxlen: int = 100_000
    # Security (off by default): TLS on the gRPC port, mTLS to admit only routers' identities,
    # and (with fleet_ca) telemetry signed with this worker's own key.
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    # With tls_client_ca: the identities (certificate common names, `*` ends a prefix) admitted;
    # `interfleet certs` names each service `<role>/<name>` and clients "interfleet client".
    allowed_peers: tuple[str, ...] = ("router/*",)
    # and the identities admitted to WorkerControl only (load, unload, state): the planner's
    allowed_controllers: tuple[str, ...] = ("planner/*",)
    # With the fleet CA, this worker signs its heartbeats and batch records with tls_cert's key.
    fleet_ca: str | None = field(default=None, metadata=env_aliases("INTERFLEET_FLEET_CA"))
    ready_file: str | None = None  # JSON with the bound addresses, written once serving
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not self.worker_id:
            raise ConfigError("worker_id must not be empty")
        if not self.models:
            raise ConfigError(f"worker {self.worker_id}: no models configured")
        if is_emulated(self.device):
            try:
                gpu(self.device)
            except UnknownGpu as exc:
                raise ConfigError(f"worker {self.worker_id}: {exc}") from None
            if self.emulation_sharing not in SHARING:
                raise ConfigError(
                    f"worker {self.worker_id}: emulation_sharing must be one of {', '.join(SHARING)}"
                )
            if self.emulation_time_scale <= 0:
                raise ConfigError(f"worker {self.worker_id}: emulation_time_scale must be positive")
        elif self.device != "cpu" and not (self.device.startswith("cuda:") and self.device[5:].isdigit()):
            raise ConfigError(
                f"worker {self.worker_id}: device must be 'cpu', 'cuda:N' or 'emulated:<type>', "
                f"got {self.device!r}"
            )
        if self.threads < 1:
            raise ConfigError(f"worker {self.worker_id}: threads must be >= 1")
        if not 0 <= self.return_hop_ms < 60_000:
            raise ConfigError(f"worker {self.worker_id}: return_hop_ms must be >= 0 and under a minute")
        if self.max_queue < 1 or self.max_concurrent_calls < 1:
            raise ConfigError(f"worker {self.worker_id}: max_queue and max_concurrent_calls must be >= 1")
        if self.state_ttl_s <= self.heartbeat_interval_s:
            raise ConfigError("state_ttl_s must exceed heartbeat_interval_s, or live workers would expire")
        self.tls.check()

    @property
    def tls(self) -> TlsFiles:
        return TlsFiles(self.tls_cert, self.tls_key, client_ca=self.tls_client_ca)

    @property
    def gpu_index(self) -> int | None:
        return int(self.device[5:]) if self.device.startswith("cuda:") else None
