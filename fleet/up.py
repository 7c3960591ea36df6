"""`interfleet up`: a whole local fleet from one config file, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from dataclasses import field
from pathlib import Path

from fleet.embedded_redis import redacted
from fleet.preflight import check_services
from fleet.supervisor import FleetSupervisor
from interfleet.config import build_config, cli_values, config_class, env_aliases
from interfleet.config_file import load_fleet_file, worker_ids
from interfleet.errors import ConfigError
from interfleet.ready_file import write_ready_file
from interfleet.repository import ALL_MODELS, list_models
from router.config import ENV_PREFIX as ROUTER_ENV
from services.worker.config import ENV_PREFIX as WORKER_ENV

log = logging.getLogger(__name__)


@config_class
class UpConfig:
    config: str = "configs/local.yaml"
    # None: the router's own order decides (INTERFLEET_ROUTER_PORT, the fleet file's router.port, 8001).
    router_port: int | None = None
    redis_url: str | None = field(default=None, metadata=env_aliases("REDIS_URL"))
    # Serve this repository (either layout) instead of the fleet file's model_repository.
    model_repository: str | None = None
    run_dir: str = "run"
    grace_s: float = 10.0
    ready_file: str | None = None
    log_level: str = "INFO"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="fleet config file (default configs/local.yaml)")
    parser.add_argument(
        "--router-port",
        dest="router_port",
        type=int,
        help="router gRPC port (default: env INTERFLEET_ROUTER_PORT, the fleet file's router.port, 8001; 0: ephemeral)",
    )
    parser.add_argument(
        "--redis-url", dest="redis_url", help="use this Redis (env REDIS_URL); default: embedded"
    )
    parser.add_argument(
        "--model-repository",
        dest="model_repository",
        help="serve this model repository (interfleet's or Triton's layout) instead of the fleet file's",
    )
    parser.add_argument("--run-dir", dest="run_dir", help="ready files and the embedded Redis (default run/)")
    parser.add_argument(
        "--grace", dest="grace_s", type=float, help="seconds in-flight requests get on shutdown"
    )
    parser.add_argument("--ready-file", dest="ready_file", help="write the router address here once serving")
    parser.add_argument("--log-level", dest="log_level")


def run(args: argparse.Namespace) -> None:
    config = build_config(
        UpConfig, cli=cli_values(args, UpConfig), env=dict(os.environ), env_prefix="INTERFLEET_UP_"
    )
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s up %(name)s: %(message)s"
    )
    data = load_fleet_file(config.config)
    ids = worker_ids(data)
    if not ids:
        raise ConfigError(f"{config.config}: no workers configured")
    repository = Path(config.model_repository or data.get("model_repository", "model_repository"))
    if config.model_repository:
        # Every service reads its repository as CLI > env > file: the children inherit this.
        from planner.config import ENV_PREFIX as PLANNER_ENV
        from predictor.service import ENV_PREFIX as PREDICTOR_ENV  # loads LightGBM: only when asked

        for prefix in (ROUTER_ENV, WORKER_ENV, PREDICTOR_ENV, PLANNER_ENV):
            os.environ[f"{prefix}MODEL_REPOSITORY"] = config.model_repository
    needed = {m for w in data["workers"] for m in w.get("models", []) if m != ALL_MODELS}
    missing = sorted(needed - set(list_models(repository)))
    if missing:
        raise ConfigError(
            f"models {', '.join(missing)} are not in {repository}; run `interfleet models build`"
        )

    # Every service's config, before any process starts: a mistake costs one line, not a warm-up.
    router = check_services(
        config.config,
        ids,
        config.router_port,
        with_predictor="predictor" in data,
        with_planner="planner" in data,
    )

    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    supervisor = FleetSupervisor(
        config.config,
        ids,
        config.router_port,
        config.redis_url,
        Path(config.run_dir),
        log_level=config.log_level,
        with_predictor="predictor" in data,
        with_planner="planner" in data,
        routers=router.processes,
    )
    code = 0
    try:
        supervisor.start()
        write_ready_file(
            config.ready_file,
            address=supervisor.router_address,
            http=supervisor.router_http_address,
            redis_url=supervisor.redis_url,
            redis_pid=supervisor.redis_pid,
        )
        log.info(
            "fleet ready: router on %s (gRPC) and %s (HTTP), %d workers, Redis at %s (Ctrl-C stops)",
            supervisor.router_address,
            supervisor.router_http_address or "(off)",
            len(ids),
            redacted(supervisor.redis_url),
        )
        code = supervisor.watch(lambda: stopping)
    except RuntimeError as exc:
        log.error("%s", exc)
        code = 1
    finally:
        supervisor.stop(config.grace_s)
    raise SystemExit(code)
