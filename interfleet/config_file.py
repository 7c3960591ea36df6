"""The fleet config file (e.g. configs/local.yaml): one file configures every service.

    fleet: local                      # Redis key namespace
    model_repository: model_repository
    redis_url: null                   # none: `interfleet up` embeds a redis-server
    router: {port: 8001, policy: least-loaded, ...}       # RouterConfig keys
    predictor: {retrain_interval_s: 60, ...}              # PredictorConfig keys; present: `up` starts it
    planner: {replan: true, drift: 0.25, ...}             # PlannerConfig keys; present: `up` starts it
    workers:                                              # WorkerConfig keys, one entry each
      - {worker_id: core0, cpus: [0], threads: 1, models: [resnet18, tiny_cnn]}

The top-level `fleet`, `model_repository`, `redis_url`, `redis_password_file` and `fleet_ca` apply to every
service, and `tls_cert`, `tls_key`, `tls_client_ca` (and the router's `tls_ca`) to the router and
the workers, unless a service's own section sets them.
"""

from __future__ import annotations

from typing import Any

from interfleet.config import load_file
from interfleet.errors import ConfigError

# Top-level keys that apply to every section whose service has them, unless the section sets its own.
SHARED_KEYS = ("fleet", "model_repository", "redis_url", "redis_password_file", "fleet_ca")
TLS_KEYS = ("tls_cert", "tls_key", "tls_client_ca")  # router and workers
TOP_LEVEL_KEYS = (*SHARED_KEYS, *TLS_KEYS, "tls_ca", "router", "workers", "predictor", "planner")


def check_fleet_file(data: dict[str, Any], name: str) -> None:
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(
            f"{name}: unknown top-level key(s) {', '.join(unknown)} (known: {', '.join(TOP_LEVEL_KEYS)})"
        )
    workers = data.get("workers") or []
    if not isinstance(workers, list) or not all(isinstance(w, dict) for w in workers):
        raise ConfigError(f"{name}: 'workers' must be a list of mappings")
    ids = [w.get("worker_id") for w in workers]
    duplicated = sorted({i for i in ids if ids.count(i) > 1 and i})
    if duplicated:
        raise ConfigError(f"{name}: worker ids must be unique, repeated: {', '.join(duplicated)}")


def load_fleet_file(path: str) -> dict[str, Any]:
    """Read and check a fleet file."""
    data = load_file(path)
    check_fleet_file(data, path)
    return data


def worker_ids(data: dict[str, Any]) -> list[str]:
    return [str(w.get("worker_id")) for w in data.get("workers") or []]


def _with_shared(data: dict[str, Any], section: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    merged = {k: data[k] for k in keys if k in data and data[k] is not None}
    merged.update(section)
    return merged


def worker_section(data: dict[str, Any], worker_id: str, name: str) -> dict[str, Any]:
    for section in data.get("workers") or []:
        if str(section.get("worker_id")) == worker_id:
            return _with_shared(data, section, (*SHARED_KEYS, *TLS_KEYS))
    raise ConfigError(f"{name}: no worker '{worker_id}' (workers: {', '.join(worker_ids(data)) or 'none'})")


def predictor_section(data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("predictor") or {}
    if not isinstance(section, dict):
        raise ConfigError("'predictor' must be a mapping")
    return _with_shared(data, section, SHARED_KEYS)


def planner_section(data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("planner") or {}
    if not isinstance(section, dict):
        raise ConfigError("'planner' must be a mapping")
    return _with_shared(data, section, SHARED_KEYS)


def router_section(data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("router") or {}
    if not isinstance(section, dict):
        raise ConfigError("'router' must be a mapping")
    return _with_shared(data, section, (*SHARED_KEYS, *TLS_KEYS, "tls_ca"))
