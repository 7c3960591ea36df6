"""`interfleet planner serve`: run the planner service.

Config: CLI > INTERFLEET_PLANNER_* env > fleet file (its `planner` section) > default.
"""

from __future__ import annotations

import argparse
import os

from interfleet.config import build_config, cli_values
from interfleet.config_file import load_fleet_file, planner_section
from interfleet.runtime import add_service_arguments, configure_logging, run_service
from planner.config import ENV_PREFIX, PlannerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("serve",), help="serve: run the planner service")
    add_service_arguments(parser, "fleet config file; its 'planner' section is used")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int, help="PlannerControl port (default 8003); 0: ephemeral")
    parser.add_argument("--model-repository", dest="model_repository")
    parser.add_argument("--replan-interval-s", dest="replan_interval_s", type=float)
    parser.add_argument("--cooldown-s", dest="cooldown_s", type=float)
    parser.add_argument(
        "--drift", type=float, help="re-plan once a model's rate changed by more than this share"
    )
    parser.add_argument("--drain-s", dest="drain_s", type=float)


def config_from(args: argparse.Namespace, env: dict[str, str]) -> PlannerConfig:
    file_section: dict = {}
    if args.config:
        file_section = planner_section(load_fleet_file(args.config))
    return build_config(
        PlannerConfig,
        cli=cli_values(args, PlannerConfig),
        env=env,
        env_prefix=ENV_PREFIX,
        file=file_section,
        file_name=args.config or "config file",
    )


def run(args: argparse.Namespace) -> None:
    from planner.service import PlannerService  # loads gRPC, Redis and LightGBM: only when run

    config = config_from(args, dict(os.environ))
    configure_logging(config.log_level, "planner")
    run_service(PlannerService(config), args.grace)
