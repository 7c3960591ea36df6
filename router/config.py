"""The router's configuration (one typed object, built once in `main`)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from interfleet.config import config_class, env_aliases
from interfleet.errors import ConfigError
from interfleet.multiplex.links import TRANSPORTS
from interfleet.security.tls import TlsFiles

ENV_PREFIX = "INTERFLEET_ROUTER_"
DEGRADATION_SOURCES = ("predictor", "emulator")


@config_class
class RouterConfig:
    host: str = "127.0.0.1"
    port: int = 8001  # Triton's gRPC port; 0: ephemeral
    # Router processes `interfleet up` starts on these ports (SO_REUSEPORT: the kernel spreads
    # client connections over them), each with its own view and requests in flight.
    processes: int = 1
    http_port: int = 8000  # Triton's HTTP/REST port; 0: ephemeral; -1: off
    metrics_port: int = 8002  # Triton's metrics port; 0: ephemeral; -1: off
    redis_url: str | None = field(default=None, metadata=env_aliases("REDIS_URL"))
    redis_password_file: str | None = field(default=None, metadata=env_aliases("REDIS_PASSWORD_FILE"))
    fleet: str = field(default="default", metadata=env_aliases("INTERFLEET_FLEET"))
    policy: str = "least-loaded"
    policy_args: dict[str, Any] = field(default_factory=dict)
    # Where a policy that needs degradation gets it: the published predictor model, or (fleets of
    # emulated GPUs, evaluations only) the emulated device model itself, which makes the policy
    # the true degradation of emulated GPUs; the emulation settings must be the workers'.
    degradation: str = "predictor"
    emulation_seed: int = 0
    emulation_sharing: str = "mps"
    refresh_interval_s: float = 0.25  # how often the in-memory view re-reads Redis
    worker_hold_s: float = 3.0  # a worker missing from Redis stays in view this long past its heartbeat
    max_record_age_s: float = (
        30.0  # with a fleet CA: a signed heartbeat older (or newer) than this is refused
    )
    worker_expiry_s: float = 600.0  # a departed worker's metrics series are dropped this long after
    eject_s: float = 5.0  # how long a worker that failed a call is skipped
    max_candidates: int = 0  # hosts of a model a policy sees per request, drawn at random; 0: all
    max_in_flight: int = 10_000  # inference requests (streams' included) beyond which RESOURCE_EXHAUSTED
    # Calls the gRPC server holds at once; the next is refused RESOURCE_EXHAUSTED before any handler
    # runs. Size it by Little's law: about twice the peak rate times the typical latency.
    max_concurrent_calls: int = 512
    # Bytes of inference requests held at once, counting the copies a forwarded one takes (3x its
    # size); a call beyond waits unread (up to 5 s or its deadline), then RESOURCE_EXHAUSTED.
    # Sized for the Kubernetes pod's 2 GiB limit; 0: no bound.
    max_request_bytes_in_flight: int = 768 * 2**20
    drain_s: float = 0.0  # on stop: NOT_SERVING this long before refusing new calls (behind a load balancer)
    max_attempts: int = 3  # workers tried per request when one is unreachable, while its deadline leaves room
    worker_streams: int = 2  # multiplexed streams per worker; 0: a unary call per request
    stream_window: int = 512  # requests in flight per stream before callers wait
    # "socket": streams on TCP to a worker's frames port where it offers one (no TLS), else gRPC;
    # "grpc": always gRPC streams.
    worker_transport: str = "socket"
    predictor_max_age_s: float = 3600.0  # an older published predictor model counts as stale
    model_repository: str = "model_repository"  # graph features for the degradation model
    decision_log_sample: float = 0.0  # share of predicted decisions logged with every candidate
    interference: dict[str, Any] = field(default_factory=dict)  # detector: mark_ratio, clear_ratio, ...
    default_timeout_s: float = 30.0  # deadline of a request whose client gives none; 0: none
    max_message_bytes: int = 0  # largest client message; 0: from the repository's largest request
    # Security (all off by default; see docs/security.md).
    tls_cert: str | None = None  # serve TLS on the client port with this cert chain and key
    tls_key: str | None = None
    tls_client_ca: str | None = None  # and require client certificates signed by this CA (mTLS)
    tls_ca: str | None = None  # dial workers over TLS, verifying them against this CA
    worker_tls_name: str | None = None  # the name workers' certs must carry, whatever address they have
    worker_tls_cert: str | None = None  # the identity shown to workers (mTLS); default tls_cert/tls_key
    worker_tls_key: str | None = None
    auth_tokens: tuple[str, ...] = field(default=(), metadata=env_aliases("INTERFLEET_AUTH_TOKENS"))
    auth_tokens_file: str | None = None  # one 'TOKEN [infer|read]' per line
    # The CA of the fleet's service identities: with it, records in Redis must be signed by the
    # service entitled to them, and this router signs its marks with its worker-facing identity.
    fleet_ca: str | None = field(default=None, metadata=env_aliases("INTERFLEET_FLEET_CA"))
    allowed_workers: tuple[str, ...] = ()  # worker addresses accepted without a signature
    max_predictor_model_bytes: int = 16 * 1024 * 1024
    # The planner service (host:port): the repository API (load / unload a model) goes through it.
    planner_address: str | None = field(default=None, metadata=env_aliases("INTERFLEET_PLANNER_ADDRESS"))
    ready_file: str | None = None
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if self.degradation not in DEGRADATION_SOURCES:
            raise ConfigError(
                f"degradation must be one of {', '.join(DEGRADATION_SOURCES)}, not {self.degradation!r}"
            )
        if not self.redis_url:
            raise ConfigError("the router needs redis_url (or REDIS_URL) to discover workers")
        if self.refresh_interval_s <= 0:
            raise ConfigError("refresh_interval_s must be > 0")
        if self.worker_streams < 0 or self.stream_window < 1:
            raise ConfigError("worker_streams must be >= 0 and stream_window >= 1")
        if self.processes < 1:
            raise ConfigError(f"processes must be at least 1, not {self.processes}")
        if self.worker_transport not in TRANSPORTS:
            raise ConfigError(
                f"worker_transport must be one of {', '.join(TRANSPORTS)}, not {self.worker_transport!r}"
            )
        if not 0.0 <= self.decision_log_sample <= 1.0:
            raise ConfigError("decision_log_sample must be between 0 and 1")
        if self.default_timeout_s < 0 or self.max_message_bytes < 0 or self.max_in_flight < 1:
            raise ConfigError("default_timeout_s and max_message_bytes must be >= 0, max_in_flight >= 1")
        if self.max_request_bytes_in_flight < 0:
            raise ConfigError("max_request_bytes_in_flight must be >= 0 (0: no bound)")
        if self.max_concurrent_calls < 1 or self.max_attempts < 1 or self.drain_s < 0:
            raise ConfigError("max_concurrent_calls and max_attempts must be >= 1, drain_s >= 0")
        self.tls.check()
        self.worker_tls.check()

    @property
    def tls(self) -> TlsFiles:
        """The client port's TLS, and (`ca`) how workers are verified."""
        return TlsFiles(self.tls_cert, self.tls_key, self.tls_ca, self.tls_client_ca)

    @property
    def worker_tls(self) -> TlsFiles:
        """How the router dials workers: their CA, and its own certificate for mTLS."""
        if self.worker_tls_cert:
            return TlsFiles(self.worker_tls_cert, self.worker_tls_key, self.tls_ca)
        return TlsFiles(self.tls_cert, self.tls_key, self.tls_ca)
