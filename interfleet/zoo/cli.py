"""`interfleet models build|list`: generate the zoo into a repository, or list a repository."""

from __future__ import annotations

import argparse
import logging

import yaml

from interfleet.repository import CONFIG_FILE, list_models
from interfleet.zoo.architectures import ZOO
from interfleet.zoo.build import build_zoo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True)
    build = sub.add_parser("build", help="generate zoo models (random weights) into a model repository")
    build.add_argument("--repository", default="model_repository")
    build.add_argument("--models", help=f"comma-separated subset of: {', '.join(ZOO)}")
    build.add_argument("--force", action="store_true", help="rebuild models that already exist")
    listing = sub.add_parser("list", help="list the models in a repository")
    listing.add_argument("--repository", default="model_repository")


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.models_command == "build":
        names = [n.strip() for n in args.models.split(",")] if args.models else None
        try:
            written = build_zoo(args.repository, names, force=args.force)
        except ValueError as exc:
            raise SystemExit(f"interfleet models build: {exc}") from None
        print(
            f"{len(written)} model(s) built into {args.repository}"
            + ("" if written else " (all present; --force rebuilds)")
        )
        return
    print(f"{'model':<14}{'MFLOPs/sample':>15}{'params (M)':>12}{'slo_ms':>8}{'max_batch':>11}  description")
    for name in list_models(args.repository):
        config = yaml.safe_load(open(f"{args.repository}/{name}/{CONFIG_FILE}"))
        print(
            f"{name:<14}{config.get('flops_per_sample', 0) / 1e6:>15.1f}"
            f"{config.get('parameter_count', 0) / 1e6:>12.2f}{config['slo_ms']:>8g}"
            f"{config['max_batch_size']:>11}  {config.get('description', '')}"
        )
