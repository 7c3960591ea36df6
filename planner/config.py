"""The planner service's configuration (one typed object, built once in `main`)."""

from __future__ import annotations

from dataclasses import field

from interfleet.config import config_class, env_aliases
from interfleet.errors import ConfigError
from interfleet.security.tls import TlsFiles

ENV_PREFIX = "INTERFLEET_PLANNER_"


@config_class
class PlannerConfig:
    host: str = "127.0.0.1"
    port: int = 8003  # PlannerControl; 0: ephemeral
    metrics_port: int = 8004  # Prometheus /metrics; 0: ephemeral; -1: off
    redis_url: str | None = field(default=None, metadata=env_aliases("REDIS_URL"))
    redis_password_file: str | None = field(default=None, metadata=env_aliases("REDIS_PASSWORD_FILE"))
    fleet: str = field(default="default", metadata=env_aliases("INTERFLEET_FLEET"))
    fleet_ca: str | None = field(default=None, metadata=env_aliases("INTERFLEET_FLEET_CA"))
    allowed_workers: tuple[str, ...] = ()  # worker addresses accepted without a signature
    model_repository: str = "model_repository"
    refresh_interval_s: float = 1.0  # how often the workers' heartbeats are read
    replan: bool = True  # re-plan as demand drifts; false: models move only when asked
    replan_interval_s: float = 10.0  # how often the drift is checked
    drift: float = 0.25  # re-plan once a model's rate changed by more than this share
    cooldown_s: float = 60.0  # and at least this long after the last re-plan
    max_moves_per_minute: int = 6
    drain_s: float = 2.0  # a model being removed keeps answering this long after its last listing
    replicas: int = 1  # replicas RepositoryModelLoad places when the caller names none
    max_group: int = 3  # models one worker may be given by a plan
    move_timeout_s: float = 120.0  # a load (with warm-up) or an unload taking longer has failed
    # Security (off by default). tls_cert/tls_key: its identity, served on PlannerControl and
    # shown to workers (they admit planner/* to their WorkerControl); tls_client_ca: callers must
    # show a certificate that CA signed, a router's to place or remove (GetPlan: any);
    # tls_ca: dial workers over TLS, verifying them by worker_tls_name (or their address).
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    tls_ca: str | None = None
    worker_tls_name: str | None = None
    ready_file: str | None = None
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        if not self.redis_url:
            raise ConfigError("the planner needs redis_url (or REDIS_URL) to read the fleet's telemetry")
        if min(self.refresh_interval_s, self.replan_interval_s, self.move_timeout_s) <= 0:
            raise ConfigError("refresh_interval_s, replan_interval_s and move_timeout_s must be > 0")
        if self.drift <= 0 or self.cooldown_s < 0 or self.drain_s < 0:
            raise ConfigError("drift must be > 0, cooldown_s and drain_s >= 0")
        if self.max_moves_per_minute < 1 or self.replicas < 1 or self.max_group < 1:
            raise ConfigError("max_moves_per_minute, replicas and max_group must be >= 1")
        self.tls.check()

    @property
    def tls(self) -> TlsFiles:
        """PlannerControl's TLS (server side)."""
        return TlsFiles(self.tls_cert, self.tls_key, None, self.tls_client_ca)

    @property
    def worker_tls(self) -> TlsFiles:
        """How it dials workers: their CA, and its own identity."""
        return TlsFiles(self.tls_cert, self.tls_key, self.tls_ca)
