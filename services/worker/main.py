"""`interfleet worker`: run one worker. Config: CLI > INTERFLEET_WORKER_* env > fleet file > default."""

from __future__ import annotations

import argparse
import os

from interfleet.config import build_config, cli_values
from interfleet.config_file import load_fleet_file, worker_section
from interfleet.runtime import add_service_arguments, configure_logging, run_service
from services.worker.config import ENV_PREFIX, WorkerConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_service_arguments(parser, "fleet config file; this worker's entry is picked by --worker-id")
    parser.add_argument("--worker-id", dest="worker_id")
    parser.add_argument("--models", help="comma-separated model names to host")
    parser.add_argument("--model-repository", dest="model_repository")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; 0.0.0.0 in containers)")
    parser.add_argument("--advertise-host", dest="advertise_host", help="host routers dial (default: --host)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--metrics-port", dest="metrics_port", type=int, help="0: ephemeral, -1: off")
    parser.add_argument("--device", help="cpu, cuda:N or emulated:<type> (e.g. emulated:A100)")
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads per model")
    parser.add_argument("--cpus", help="comma-separated cores to pin to, e.g. 0,1")
    parser.add_argument("--max-queue", dest="max_queue", type=int)
    parser.add_argument(
        "--exit-on-error",
        dest="exit_on_error",
        action="store_const",
        const=True,
        help="stop if any model cannot be loaded (default: report it UNAVAILABLE and serve the others)",
    )
    parser.add_argument(
        "--batching", help='per-model batching overrides as YAML/JSON, e.g. \'{"*": {"policy": "none"}}\''
    )


def config_from(args: argparse.Namespace, env: dict[str, str]) -> WorkerConfig:
    file_section: dict = {}
    if args.config:
        data = load_fleet_file(args.config)
        worker_id = args.worker_id or env.get(ENV_PREFIX + "WORKER_ID")
        if not worker_id:
            raise SystemExit("interfleet worker: --config needs --worker-id to pick the worker's entry")
        file_section = worker_section(data, worker_id, args.config)
    return build_config(
        WorkerConfig,
        cli=cli_values(args, WorkerConfig),
        env=env,
        env_prefix=ENV_PREFIX,
        file=file_section,
        file_name=args.config or "config file",
    )


def run(args: argparse.Namespace) -> None:
    # Imported here: they load ONNX Runtime, which other subcommands do not need.
    from services.worker.device import pin_cpus
    from services.worker.service import WorkerService

    config = config_from(args, dict(os.environ))
    configure_logging(config.log_level, f"worker[{config.worker_id}]")
    # Before any session or thread exists, so every thread inherits the CPU set.
    pin_cpus(config.cpus)
    run_service(WorkerService(config), args.grace)
