"""The `interfleet` command: one entry point, a subcommand per service or tool."""

from __future__ import annotations

import argparse
import importlib
import sys

from interfleet import __version__
from interfleet.config import ConfigError

# subcommand -> (module with add_arguments(parser) and run(args), help). Imported on use, so
# `interfleet models list` does not load ONNX Runtime and the router does not load onnx.
SUBCOMMANDS = {
    "up": ("interfleet.fleet.up", "start a local fleet: Redis, workers and the router"),
    "router": ("interfleet.router.main", "run the router (KServe v2 / Triton gRPC endpoint)"),
    "worker": ("interfleet.services.worker.main", "run one worker hosting ONNX models on one device"),
    "models": ("interfleet.zoo.cli", "build or list the model zoo"),
    "loadgen": ("interfleet.loadgen.main", "replay a trace open-loop against an endpoint and report SLOs"),
    "health": ("interfleet.health_probe", "check a server's gRPC health (for container health checks)"),
    "certs": ("interfleet.security.certs", "make a local CA, TLS certificates, a fleet key and tokens"),
    "stress": ("interfleet.predictor.stressor", "run an external CPU, cache or memory-bandwidth stressor"),
    "profile": ("interfleet.predictor.profiler", "measure solo and co-located latencies into a dataset"),
    "predictor": ("interfleet.predictor.main", "train and evaluate the colocation-degradation predictor"),
    "simulate": ("interfleet.simulation.cli", "simulate a fleet of emulated GPUs under a routing policy"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interfleet", description="Interference-aware inference serving.")
    parser.add_argument("--version", action="version", version=f"interfleet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(module=module)
        importlib.import_module(module).add_arguments(command)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        importlib.import_module(args.module).run(args)
    except ConfigError as exc:
        sys.exit(f"interfleet {args.command}: {exc}")
