"""The report of `make eval-scale`: each policy's own max load, its spread over seeds, the bound."""

from __future__ import annotations

import statistics
from pathlib import Path


def _spread(values: list[float], fmt: str) -> str:
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def write_report(report: dict, path: Path) -> None:
    policies = report["policies"]
    seeds = report["device_seeds"]
    lines = [
        f"# Routing at scale, simulated (emulated GPUs): the {report['workload_set']} workload set",
        "",
        "**Every figure here is from an emulation**: emulated GPUs (`emulation`, calibrated to "
        "published measurements) in the fleet simulator, which runs the router's decision core, the workers' "
        "queues and hop-aware batchers and the predictor unchanged. Nothing ran on a GPU.",
        "",
        f"SLOs (ms): {', '.join(f'{m} {v}' for m, v in sorted(report['slo_ms'].items()))}. "
        f"{report['window_s']} simulated seconds per run (the first tenth not counted). "
        f"Wall time of the whole evaluation: {report['wall_s']:.0f} s.",
        *([f"**Incomplete**: {report['stopped']}.", ""] if report.get("stopped") else []),
        "",
        "## The predictor against the device's true degradation (held-out combinations)",
        "",
        "| device seed | training rows (co-located share) | GPU type | MAPE | ranking Spearman |",
        "|---|---|---|---|---|",
    ]
    for seed, info in seeds.items():
        for gpu, score in info["predictor_score"].items():
            lines.append(
                f"| {seed} | {info['predictor_training_rows']:,} ({info['co_located_share']:.0%}) | {gpu} "
                f"| {score['mape']:.1%} | {score['spearman']} |"
            )
    loads = report["max_load_rps_100"]
    reference = loads.get("least-loaded", {})
    lines += [
        "",
        "## 100 GPUs: each policy's own max load at 99% SLO attainment",
        "",
        f"Median (range) over {len(seeds)} device seeds x {len(next(iter(loads.values()))) // max(1, len(seeds))} "
        "trace seeds; bracketed by 1.5x steps, then bisected to 2%. The ratio is taken per seed pair "
        "against least-loaded on the same seeds. p99 and mean execution slowdown (device time over solo on "
        "that GPU type, jitter included) are at the policy's own max load.",
        "",
        "| policy | max load (req/s) | over least-loaded | p99 (ms) at it | execution slowdown at it |",
        "|---|---|---|---|---|",
    ]
    for policy in policies:
        rates = loads[policy]
        ratios = [rates[k] / reference[k] for k in rates if reference.get(k)]
        knees = [v for v in report["at_knee"][policy].values() if v]
        lines.append(
            f"| {policy} | {_spread(list(rates.values()), '{:,.0f}')} "
            f"| {_spread(ratios, '{:.2f}x') if ratios else '-'} "
            f"| {_spread([k['p99_ms'] for k in knees], '{:.3f}') if knees else '-'} "
            f"| {_spread([k['mean_execution_slowdown'] for k in knees], '{:.3f}') if knees else '-'} |"
        )
    bounds = [info["capacity_bound_rps"] for info in seeds.values()]
    best = max(policies, key=lambda p: statistics.median(loads[p].values()))
    lines += [
        "",
        f"Capacity bound (`simulation/capacity_bound.py`: every model queue at its best in-SLO batch "
        f"throughput, no interference, no queueing): {_spread(bounds, '{:,.0f}')} req/s. The best policy "
        f"({best}) reaches {statistics.median(loads[best].values()) / statistics.median(bounds):.0%} of it; "
        "the bound is loose by construction, so the gap is an upper limit on what any routing could add.",
        "",
    ]
    large = [r for r in report["runs"] if r["gpus"] == 1000]
    if large:
        lines += [
            "## 1,000 GPUs: each policy at 90% of its own 100-GPU max load per GPU",
            "",
            "| policy | offered (req/s) | SLO attainment | p99 (ms) | execution slowdown | simulated req per wall s |",
            "|---|---|---|---|---|---|",
        ]
        for r in large:
            lines.append(
                f"| {r['policy']} | {r['rate_rps']:,.0f} | {r['slo_attainment']:.2%} | {r['p99_ms']:.3f} "
                f"| {r['mean_execution_slowdown']} | {r['simulated_requests_per_wall_s']:,} |"
            )
    path.write_text("\n".join(lines) + "\n")
