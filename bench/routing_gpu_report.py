"""The report of `make eval-routing-gpu`: live emulated fleet and simulator, side by side."""

from __future__ import annotations

import collections
from pathlib import Path

AGREEMENT = 0.10  # the cross-check's tolerance: live and simulated within 10%


def _agree(live: float, sim: float) -> str:
    if max(abs(live), abs(sim)) == 0:
        return "="
    off = abs(live - sim) / max(abs(live), abs(sim))
    return f"{off:.0%}" + ("" if off <= AGREEMENT else " (!)")


def write_report(report: dict, path: Path) -> None:
    scale = report["time_scale"]
    lines = [
        "# Routing on emulated GPUs: a live fleet, and the simulator beside it",
        "",
        f"**Emulated GPUs, not real ones.** {len(report['gpus'])} worker processes, each on an emulated GPU "
        f"({', '.join(g for _, g, _ in report['gpus'])}), behind the real router, Redis and predictor service "
        f"on loopback. Each batch sleeps for the device model's time, stretched {scale:g}x on the wall clock; "
        "every figure below is in device time (wall divided by that). The simulator ran the same fleet, "
        "policies, predictor and rates. Every request counts: a refused one is missed and counted at its "
        "deadline.",
        "",
        f"SLOs (ms, device time): {', '.join(f'{m} {v}' for m, v in sorted(report['slo_ms'].items()))}. "
        f"Predictor trained on {report['predictor_training_rows']:,} rows of the emulated profile. "
        f"Wall time: {report['wall_s']:.0f} s.",
        "",
        "## Max load at 99% SLO attainment (simulated, this fleet)",
        "",
        "| policy | req/s (device time) |",
        "|---|---|",
    ]
    for policy, rate in report["sim_max_load_rps"].items():
        lines.append(f"| {policy} | {rate:,.0f} |")
    lines += [
        "",
        "Each policy runs below at 50%, 80% and 95% of its own max load above. Execution slowdown: "
        "device time over solo on that GPU type (simulated side; jitter included).",
        "",
    ]
    by_share = collections.defaultdict(list)
    for run in report["runs"]:
        by_share[run["share"]].append(run)
    misses = 0
    for share, runs in sorted(by_share.items()):
        lines += [
            f"## {share:.0%} of each policy's own max load",
            "",
            "| policy | offered req/s (device) | SLO live | SLO sim | p50 ms live | p50 sim | p99 ms live | p99 sim | "
            "mean degr. live | mean degr. sim | execution slowdown sim | refused live |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run in runs:
            live, sim = run["live"], run["sim"]
            lines.append(
                f"| {run['policy']} | {run['rate_rps']:,.0f} | {live['slo_attainment']:.2%} | "
                f"{sim['slo_attainment']:.2%} | "
                f"{live['p50_ms']:.3f} | {sim['p50_ms']:.3f} | {live['p99_ms']:.3f} | {sim['p99_ms']:.3f} | "
                f"{live['mean_degradation']:.2f} | {sim['mean_degradation']:.2f} | "
                f"{sim['mean_execution_slowdown']} | {live['refused_share']:.2%} |"
            )
        lines += [
            "",
            "Cross-check, live against simulated (relative difference; (!) beyond 10%):",
            "",
            "| policy | SLO attainment | p50 | p99 |",
            "|---|---|---|---|",
        ]
        for run in runs:
            live, sim = run["live"], run["sim"]
            cells = [_agree(live[k], sim[k]) for k in ("slo_attainment", "p50_ms", "p99_ms")]
            misses += sum("(!)" in c for c in cells)
            lines.append(f"| {run['policy']} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append(f"Cross-check: {misses} of {3 * len(report['runs'])} figures differ by more than 10%.")
    path.write_text("\n".join(lines) + "\n")
