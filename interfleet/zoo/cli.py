"""`interfleet models build|list`: generate the zoo into a repository, or list a repository."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from interfleet.repository import RepositoryError, list_models, load_spec
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
    repository = Path(args.repository)
    if not repository.is_dir():
        raise SystemExit(
            f"interfleet models list: no repository at {repository}; `interfleet models build` makes one"
        )
    print(f"{'model':<14}{'MFLOPs/sample':>15}{'params (M)':>12}{'slo_ms':>8}{'max_batch':>11}  description")
    unusable = 0
    for name in list_models(repository):
        try:
            spec = load_spec(repository, name)
        except RepositoryError as exc:  # listed, not fatal: the listing is how one finds such a model
            unusable += 1
            print(f"{name:<14}  cannot be served: {exc}")
            continue
        print(
            f"{name:<14}{spec.flops_per_sample / 1e6:>15.1f}{spec.parameter_count / 1e6:>12.2f}"
            f"{spec.slo_ms:>8g}{spec.max_batch_size:>11}  {spec.description}"
        )
    if unusable:
        raise SystemExit(f"interfleet models list: {unusable} model(s) in {repository} cannot be served")
