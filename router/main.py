"""`interfleet router`: run the router. Config: CLI > INTERFLEET_ROUTER_* env > fleet file > default."""

from __future__ import annotations

import argparse
import os

from interfleet.config import build_config, cli_values
from interfleet.config_file import load_fleet_file, router_section
from interfleet.runtime import add_service_arguments, configure_logging, run_service
from router.config import ENV_PREFIX, RouterConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_service_arguments(parser, "fleet config file; its 'router' section is used")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int, help="gRPC port (default 8001, Triton's); 0: ephemeral")
    parser.add_argument(
        "--http-port",
        dest="http_port",
        type=int,
        help="HTTP/REST port (default 8000, Triton's); 0: ephemeral, -1: off",
    )
    parser.add_argument("--metrics-port", dest="metrics_port", type=int, help="0: ephemeral, -1: off")
    parser.add_argument(
        "--policy", help="routing policy: interference-aware, least-loaded, power-of-two, round-robin"
    )
    parser.add_argument("--policy-args", dest="policy_args", help="policy keyword arguments as YAML/JSON")
    parser.add_argument("--refresh-interval-s", dest="refresh_interval_s", type=float)
    parser.add_argument("--max-in-flight", dest="max_in_flight", type=int)
    parser.add_argument(
        "--max-concurrent-calls",
        dest="max_concurrent_calls",
        type=int,
        help="calls the gRPC server holds at once; the next is refused RESOURCE_EXHAUSTED (default 512)",
    )
    parser.add_argument(
        "--drain-s", dest="drain_s", type=float, help="seconds NOT_SERVING before a stop refuses calls"
    )
    parser.add_argument(
        "--worker-streams",
        dest="worker_streams",
        type=int,
        help="multiplexed streams to each worker (default 2); 0: a unary call per request",
    )
    parser.add_argument(
        "--model-repository",
        dest="model_repository",
        help="model repository (graph features for the degradation model)",
    )
    parser.add_argument(
        "--decision-log-sample",
        dest="decision_log_sample",
        type=float,
        help="share of predicted decisions to log with every candidate's prediction",
    )


def config_from(args: argparse.Namespace, env: dict[str, str]) -> RouterConfig:
    file_section: dict = {}
    if args.config:
        file_section = router_section(load_fleet_file(args.config))
    return build_config(
        RouterConfig,
        cli=cli_values(args, RouterConfig),
        env=env,
        env_prefix=ENV_PREFIX,
        file=file_section,
        file_name=args.config or "config file",
    )


def run(args: argparse.Namespace) -> None:
    from router.service import RouterService  # loads gRPC and Redis clients: only when run

    config = config_from(args, dict(os.environ))
    configure_logging(config.log_level, "router")
    run_service(RouterService(config), args.grace)
