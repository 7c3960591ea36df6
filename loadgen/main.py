"""`interfleet loadgen`: replay a trace open-loop against a KServe v2 endpoint and report SLOs.

    interfleet loadgen --target 127.0.0.1:8001 --trace poisson:rate=200 --models tiny_cnn=3,mlp=1 \\
        --duration 30 --seed 1 --out results/run1
    interfleet loadgen --config experiment.yaml          # the same keys, repeatable
    interfleet loadgen compare results/run1 results/run2

Config: CLI > INTERFLEET_LOADGEN_* env > --config file > default.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import field
from pathlib import Path

import numpy as np

from interfleet.config import build_config, cli_values, config_class, env_aliases, load_file
from interfleet.errors import ConfigError
from interfleet.security.client import ClientAccess
from interfleet.security.tls import TlsFiles
from loadgen.errors import LoadgenError

log = logging.getLogger(__name__)
SEND_LAG_WARN_MS = 1.0


@config_class
class LoadgenConfig:
    target: str = "127.0.0.1:8001"
    trace: str = "poisson:rate=50"
    models: str = ""  # name[=weight],... ; a CSV trace names its own models
    slo: str = ""  # "ms" for all, or name=ms,... ; default: each model's configured SLO
    duration: float = 10.0
    seed: int = 0
    time_scale: float = 1.0
    deadline: bool = False  # send each request with a gRPC deadline equal to its SLO
    out: str = "results/loadgen"
    progress: bool = True
    tls_ca: str | None = None  # the target serves TLS: verify it against this CA
    tls_cert: str | None = None  # client certificate and key, where the target requires mTLS
    tls_key: str | None = None
    token: str | None = field(default=None, metadata=env_aliases("INTERFLEET_TOKEN"))  # bearer token
    # The token read from a file instead: a command line is visible to every user of the host.
    token_file: str | None = None

    @property
    def access(self) -> ClientAccess:
        return ClientAccess(TlsFiles(self.tls_cert, self.tls_key, self.tls_ca), self.bearer_token())

    def bearer_token(self) -> str | None:
        if not self.token_file:
            return self.token
        try:
            return Path(self.token_file).read_text().strip() or None
        except OSError as exc:
            raise LoadgenError(f"cannot read token file {self.token_file}: {exc.strerror}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "mode", nargs="?", choices=["run", "compare"], default="run", help="run (default) or compare DIR..."
    )
    parser.add_argument("folders", nargs="*", help="compare: output folders of earlier runs")
    parser.add_argument("--config", help="experiment file with the keys below")
    parser.add_argument("--target", help="host:port of a KServe v2 gRPC endpoint (default 127.0.0.1:8001)")
    parser.add_argument(
        "--trace",
        help="poisson:rate=R | gamma:rate=R,cv=C | onoff:on_rate=..,off_rate=..,on_s=..,"
        "off_s=.. | ramp:start=..,end=.. | diurnal:mean=..,amplitude=..,period_s=.. | "
        "csv:path=F | azure:path=F[,minutes=N]",
    )
    parser.add_argument("--models", help="model mix, name[=weight],...")
    parser.add_argument("--slo", help="SLO override: ms for all models, or name=ms,...")
    parser.add_argument("--duration", type=float, help="seconds")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--time-scale", dest="time_scale", type=float, help="stretch (>1) or compress (<1) time"
    )
    parser.add_argument(
        "--deadline",
        action="store_const",
        const=True,
        default=None,
        help="give each request a gRPC deadline equal to its SLO",
    )
    parser.add_argument("--out", help="output folder (default results/loadgen)")
    parser.add_argument("--tls-ca", dest="tls_ca", help="the target serves TLS: verify it against this CA")
    parser.add_argument("--tls-cert", dest="tls_cert", help="client certificate (the target requires mTLS)")
    parser.add_argument("--tls-key", dest="tls_key", help="the client certificate's key")
    parser.add_argument(
        "--token",
        help="bearer token (default $INTERFLEET_TOKEN; prefer --token-file: argv is visible to all)",
    )
    parser.add_argument("--token-file", dest="token_file", help="read the bearer token from this file")
    parser.add_argument("--no-progress", dest="progress", action="store_const", const=False, default=None)
    parser.add_argument("--plot", default="compare.png", help="compare: where to write the overlay plot")


def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        if args.mode == "compare":
            from loadgen.compare import compare

            print(compare([Path(f) for f in args.folders], Path(args.plot)))
            return
        if args.folders:
            raise LoadgenError(f"unexpected arguments: {' '.join(args.folders)}")
        config = build_config(
            LoadgenConfig,
            cli=cli_values(args, LoadgenConfig),
            env=dict(os.environ),
            env_prefix="INTERFLEET_LOADGEN_",
            file=load_file(args.config),
            file_name=args.config or "config file",
        )
        summary_text, lag_p99 = execute(config)
        print(summary_text)
        if lag_p99 is not None and lag_p99 > SEND_LAG_WARN_MS:
            print(
                f"WARNING: send-lag p99 {lag_p99:.2f} ms exceeds {SEND_LAG_WARN_MS} ms: the generator, not the "
                "server, may be limiting this run; lower the rate or run the generator on another machine",
                file=sys.stderr,
            )
    except (LoadgenError, ConfigError) as exc:
        sys.exit(f"interfleet loadgen: {exc}")


def _parse_slo(text: str) -> tuple[float | None, dict[str, float]]:
    if not text:
        return None, {}
    try:
        if "=" not in text:
            return float(text), {}
        pairs = (item.split("=", 1) for item in text.split(",") if item.strip())
        return None, {name.strip(): float(value) for name, value in pairs}
    except ValueError:
        raise LoadgenError(f"--slo must be ms or name=ms,...; got {text!r}") from None


def execute(config: LoadgenConfig) -> tuple[str, float | None]:
    from loadgen import plots, report
    from loadgen.arrivals import ArrivalSpec
    from loadgen.schedule import build_schedule, parse_mix
    from loadgen.target import Target

    out = Path(config.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise LoadgenError(f"cannot write to output folder {out}: {exc.strerror}") from None

    spec = ArrivalSpec.parse(config.trace)
    if spec.kind != "csv" and not config.models:
        raise LoadgenError("give the model mix with --models name[=weight],...")
    mix = parse_mix(config.models) if config.models else {}
    slo_all, slo_each = _parse_slo(config.slo)
    target = Target(config.target, config.access)
    target.check_live()

    def slo_of(model: str) -> float:
        target.metadata(model)  # rejects unknown models, naming what the target serves
        return slo_each.get(model) or slo_all or target.slo_ms(model)

    schedule = build_schedule(spec, mix, slo_of, config.duration, config.seed, config.time_scale)
    if not len(schedule):
        raise LoadgenError("the schedule is empty: raise the rate or the duration")
    rng = np.random.default_rng(config.seed)
    outcomes = asyncio.run(target.run(schedule, rng, config.deadline, config.progress))

    summary = report.summarise(schedule, outcomes, config.target, config.trace, config.seed)
    report.write_rows(out / report.ROWS_FILE, schedule, outcomes)
    report.write_summary(out / report.SUMMARY_FILE, summary)
    plots.latency_cdf(out / plots.CDF_FILE, schedule, outcomes)
    plots.timeline(out / plots.TIMELINE_FILE, schedule, outcomes)
    text = (
        report.format_table(summary) + f"\nwritten to {out}/ ({report.ROWS_FILE}, {report.SUMMARY_FILE}, "
        f"{plots.CDF_FILE}, {plots.TIMELINE_FILE})"
    )
    return text, summary["send_lag"]["p99_ms"]
