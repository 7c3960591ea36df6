"""`interfleet predictor train|eval|serve`: fit the degradation model on a profiled dataset, evaluate
it, or run the service that keeps it current from live telemetry."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from interfleet.runtime import add_service_arguments

DEFAULT_DATA = "predictor/data/reference.csv"
DEFAULT_MODEL = "predictor/models/reference.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="predictor_command", required=True)
    for name, help_text in (
        ("train", "fit the degradation model on a dataset"),
        ("eval", "random, leave-one-model-out and held-out-degree evaluation"),
    ):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--data", default=DEFAULT_DATA, help="dataset from `interfleet profile`")
        command.add_argument(
            "--repository", default="model_repository", help="the profiled models (for features)"
        )
    sub.choices["train"].add_argument("--out", default=DEFAULT_MODEL)
    sub.choices["eval"].add_argument("--out", default="results/predictor-eval.json")
    sub.choices["eval"].add_argument("--seed", type=int, default=0)
    serve = sub.add_parser(
        "serve", help="retrain from the workers' batch stream and publish validated models"
    )
    add_service_arguments(serve, "fleet config file; its 'predictor' section is used")
    serve.add_argument("--model-repository", dest="model_repository")
    serve.add_argument("--dataset", help="seed dataset (default predictor/data/reference.csv)")
    serve.add_argument("--initial-model", dest="initial_model")
    serve.add_argument("--retrain-interval-s", dest="retrain_interval_s", type=float)
    serve.add_argument("--min-new-rows", dest="min_new_rows", type=int)


def predictor_config_from(args: argparse.Namespace, env: dict[str, str]):
    from interfleet.config import build_config, cli_values
    from interfleet.config_file import load_fleet_file, predictor_section
    from predictor.service import ENV_PREFIX, PredictorConfig

    file_section = predictor_section(load_fleet_file(args.config)) if args.config else {}
    return build_config(
        PredictorConfig,
        cli=cli_values(args, PredictorConfig),
        env=env,
        env_prefix=ENV_PREFIX,
        file=file_section,
        file_name=args.config or "config file",
    )


def serve(args: argparse.Namespace) -> None:
    import os

    from interfleet.runtime import configure_logging, run_service
    from predictor.service import PredictorService

    config = predictor_config_from(args, dict(os.environ))
    configure_logging(config.log_level, "predictor")
    run_service(PredictorService(config), args.grace)


def run(args: argparse.Namespace) -> None:
    if args.predictor_command == "serve":
        serve(args)
        return
    from predictor.evaluate import Prepared, evaluate, fit, format_report
    from predictor.features import FeatureBuilder
    from predictor.profiler import read_dataset

    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(f"interfleet predictor: no dataset at {data}; run `interfleet profile` first")
    rows = read_dataset(data)
    builder = FeatureBuilder(Path(args.repository))
    if args.predictor_command == "train":
        provenance = data.with_suffix(".provenance.json")
        info = {
            "dataset": str(data),
            "rows": len(rows),
            "provenance": json.loads(provenance.read_text()) if provenance.exists() else {},
        }
        fit(Prepared(rows, builder), rows, info).save(Path(args.out))
        print(f"model trained on {len(rows)} rows written to {args.out}")
        return
    report = evaluate(rows, builder, args.seed)
    print(format_report(report))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"written to {args.out}")
