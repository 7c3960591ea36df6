"""The `interfleet` command: one entry point, a subcommand per service or tool.

Each subcommand is a module with `add_arguments(parser)` and `run(args)`, imported only when
that subcommand is the one run: `interfleet --help` imports none of them, and `interfleet
health` (what container health checks run every few seconds) imports the health probe alone,
not the simulator, LightGBM or ONNX.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from interfleet import __version__
from interfleet.errors import ConfigError

# subcommand -> (module with add_arguments(parser) and run(args), help)
SUBCOMMANDS = {
    "up": ("fleet.up", "start a local fleet: Redis, workers and the router"),
    "router": ("router.main", "run the router (KServe v2 / Triton gRPC endpoint)"),
    "worker": ("services.worker.main", "run one worker hosting ONNX models on one device"),
    "models": ("interfleet.zoo.cli", "build or list the model zoo"),
    "loadgen": ("loadgen.main", "replay a trace open-loop against an endpoint and report SLOs"),
    "health": ("interfleet.health_probe", "check a server's gRPC health (for container health checks)"),
    "certs": (
        "interfleet.security.certs",
        "make a local CA, an identity per service, Redis passwords per role and tokens",
    ),
    "stress": ("predictor.stressor", "run an external CPU, cache or memory-bandwidth stressor"),
    "profile": ("predictor.profiler", "measure solo and co-located latencies into a dataset"),
    "predictor": ("predictor.main", "train and evaluate the colocation-degradation predictor"),
    "simulate": (
        "simulation.cli",
        "simulate a fleet of emulated GPUs under a placement and a routing policy",
    ),
    "plan": (
        "simulation.plan_cli",
        "plan which models share which emulated GPU; --show: a live fleet's plan",
    ),
    "planner": ("planner.main", "run the planner service: places and re-places models on the live fleet"),
}


def chosen_command(argv: list[str]) -> str | None:
    """The subcommand `argv` runs: its first word that is not an option (None for none)."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of `command` alone (every subcommand is listed in --help)."""
    parser = argparse.ArgumentParser(prog="interfleet", description="Interference-aware inference serving.")
    parser.add_argument("--version", action="version", version=f"interfleet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        subparser = sub.add_parser(name, help=help_text, description=help_text)
        subparser.set_defaults(module=module)
        if name == command:
            importlib.import_module(module).add_arguments(subparser)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(chosen_command(argv)).parse_args(argv)
    try:
        importlib.import_module(args.module).run(args)
    except ConfigError as exc:
        sys.exit(f"interfleet {args.command}: {exc}")
