"""The report of `make eval-scale` (and of the simulated side of `make eval-routing-gpu`)."""

from __future__ import annotations

import collections
import statistics
from pathlib import Path

METRICS = (
    ("slo_attainment", "SLO attainment", "{:.2%}"),
    ("goodput_rps", "goodput (req/s)", "{:,.0f}"),
    ("mean_degradation", "mean degradation", "{:.2f}"),
    ("p99_degradation", "p99 degradation", "{:.2f}"),
    ("p50_ms", "p50 (ms)", "{:.3f}"),
    ("p99_ms", "p99 (ms)", "{:.3f}"),
)


def _cell(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def level_table(runs: list[dict], policies: list[str]) -> list[str]:
    by_policy = collections.defaultdict(list)
    for run in runs:
        by_policy[run["policy"]].append(run)
    lines = [
        "| policy | " + " | ".join(title for _, title, _ in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    for policy in policies:
        if by_policy[policy]:
            lines.append(
                f"| {policy} | "
                + " | ".join(_cell([r[key] for r in by_policy[policy]], fmt) for key, _, fmt in METRICS)
                + " |"
            )
    mean = {p: statistics.mean(r["mean_degradation"] for r in rs) for p, rs in by_policy.items() if rs}
    for variant, oracle in (
        ("interference-aware", "oracle"),
        ("interference-aware (balanced)", "oracle (balanced)"),
    ):
        if {variant, oracle, "least-loaded"} <= set(mean):
            lines += [
                "",
                f"Mean degradation, least-loaded over {variant}: {mean['least-loaded'] / mean[variant]:.2f}x "
                f"(target >= 2x); {variant} over its oracle: {mean[variant] / mean[oracle]:.2f}x "
                f"(target <= 1.10x).",
            ]
    return lines


def write_report(report: dict, path: Path) -> None:
    policies = report["policies"]
    lines = [
        "# Routing at scale, simulated (emulated GPUs)",
        "",
        "**Every figure here is from an emulation**: emulated GPUs (`emulation`, calibrated to "
        "published measurements) in the fleet simulator, which runs the router's decision core, the workers' "
        "queues and batchers and the predictor unchanged. Nothing ran on a GPU.",
        "",
        f"Predictor trained on {report['predictor_training_rows']:,} rows of emulated telemetry. "
        f"SLOs (ms): {', '.join(f'{m} {v}' for m, v in sorted(report['slo_ms'].items()))}. "
        f"Wall time of the whole evaluation: {report['wall_s']:.0f} s.",
        "",
    ]
    if "max_load_rps_100" in report:
        best = report["reference_rps_100"]
        lines += [
            "## 100 GPUs: max load at 99% SLO attainment",
            "",
            "| policy | max load (req/s) | over the best load-only baseline |",
            "|---|---|---|",
        ]
        for policy in policies:
            rate = report["max_load_rps_100"][policy]
            lines.append(f"| {policy} | {rate:,.0f} | {rate / best:.2f}x |")
        lines += [
            "",
            "Bisection over 6 runs per policy, one seed: the figures carry the run-to-run noise of one "
            "trace (target for interference-aware: >= 1.5x).",
            "",
        ]
    phases = collections.defaultdict(list)
    for run in report["runs"]:
        if run["phase"] != "max-load":
            phases[run["gpus"], run["phase"]].append(run)
    for (gpus, phase), runs in sorted(phases.items()):
        rate = runs[0]["rate_rps"]
        lines += [f"## {gpus:,} GPUs, {phase} ({rate:,.0f} req/s offered)", ""]
        lines += level_table(runs, policies)
        speed = statistics.mean(r["simulated_requests_per_wall_s"] for r in runs)
        wall = statistics.mean(r["wall_s"] for r in runs)
        lines += [
            "",
            f"Simulator: {sum(r['requests'] for r in runs) / len(runs):,.0f} requests counted per run, "
            f"{wall:.1f} s wall per run, {speed:,.0f} simulated requests per wall second.",
            "",
        ]
    path.write_text("\n".join(lines) + "\n")
