"""`interfleet predictor train|eval`: fit the degradation model on a profiled dataset, or evaluate it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_DATA = "predictor/data/reference.csv"
DEFAULT_MODEL = "predictor/models/reference.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="predictor_command", required=True)
    for name, help_text in (("train", "fit the mean and p95 models on a dataset"),
                            ("eval", "random, leave-one-model-out and held-out-degree evaluation")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("--data", default=DEFAULT_DATA, help="dataset from `interfleet profile`")
        command.add_argument("--repository", default="model_repository", help="the profiled models (for features)")
    sub.choices["train"].add_argument("--out", default=DEFAULT_MODEL)
    sub.choices["eval"].add_argument("--out", default="results/predictor-eval.json")
    sub.choices["eval"].add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> None:
    from interfleet.predictor.evaluate import Prepared, evaluate, fit, format_report
    from interfleet.predictor.features import FeatureBuilder
    from interfleet.predictor.profiler import read_dataset

    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(f"interfleet predictor: no dataset at {data}; run `interfleet profile` first")
    rows = read_dataset(data)
    builder = FeatureBuilder(Path(args.repository))
    if args.predictor_command == "train":
        provenance = data.with_suffix(".provenance.json")
        info = {"dataset": str(data), "rows": len(rows),
                "provenance": json.loads(provenance.read_text()) if provenance.exists() else {}}
        fit(Prepared(rows, builder), rows, info).save(Path(args.out))
        print(f"model trained on {len(rows)} rows written to {args.out}")
        return
    report = evaluate(rows, builder, args.seed)
    print(format_report(report))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"written to {args.out}")
