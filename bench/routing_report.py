"""The routing evaluation's report: per scenario and policy, from the load generator's request rows.

Latency degradation of a request is its end-to-end latency over the solo latency of its model
on the worker that served it (measured on the idle fleet through the same path), so 1.0 means
"as fast as alone". Reported over the answered requests of all repeats pooled: mean and p99
degradation, mean excess (degradation - 1, the slowdown itself), p50/p99 latency; over all
scheduled requests: SLO attainment (answered within the SLO; refusals and errors are misses)
and goodput. Each is also given as a ratio to least-loaded, and the per-repeat mean degradation
shows the spread the machine's noise causes. Writes report.md, report.json and two PNGs.
"""

from __future__ import annotations

import collections
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

BASELINE = "least-loaded"
STRESSED_WORKERS = ("core1", "both")  # the workers whose cores include the stressed core


def _rows(folder: Path) -> list[dict]:
    with (Path(folder) / "requests.csv").open() as handle:
        return list(csv.DictReader(handle))


def _summarise(rows: list[dict], solo: dict, seconds: float, repeats: int, stress_from_s: float) -> dict:
    ok = [r for r in rows if r["status"] == "OK"]
    latency = np.array([float(r["latency_ms"]) for r in ok])
    degradation = np.array([float(r["latency_ms"]) / solo[r["model"]][r["worker"]] for r in ok])
    within = sum(1 for r in ok if float(r["latency_ms"]) <= float(r["slo_ms"]))
    stressed = [r for r in ok if float(r["scheduled_s"]) >= stress_from_s]
    return {
        "requests": len(rows),
        "answered": len(ok),
        "errors": dict(collections.Counter(r["status"] for r in rows if r["status"] != "OK")),
        "mean_degradation": float(degradation.mean()),
        "p99_degradation": float(np.percentile(degradation, 99)),
        "mean_excess": float(degradation.mean() - 1.0),
        "p50_ms": float(np.percentile(latency, 50)),
        "p99_ms": float(np.percentile(latency, 99)),
        "slo_attainment": within / len(rows),
        "goodput_rps": within / (seconds * repeats),
        "stressed_period_to_stressed_workers": (
            sum(1 for r in stressed if r["worker"] in STRESSED_WORKERS) / max(1, len(stressed))
        ),
    }


def analyse(results: dict) -> dict:
    solo, seconds = results["solo_ms"], results["seconds"]
    pooled: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
    per_repeat: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    stress_from: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for run in results["runs"]:
        rows = _rows(run["folder"])
        key = run["scenario"], run["policy"]
        # Rows of each run, relative to its stressor (the share before/after is per run).
        start = run.get("stress_from_s") or seconds / 2
        stress_from[key].append(start)
        pooled[key].extend({**r, "scheduled_s": float(r["scheduled_s"]) - start + seconds / 2} for r in rows)
        single = _summarise(rows, solo, seconds, 1, start)
        per_repeat[key].append(single["mean_degradation"])
    scenarios: dict[str, dict] = {}
    for (scenario, policy), rows in pooled.items():
        summary = _summarise(rows, solo, seconds, len(per_repeat[scenario, policy]), seconds / 2)
        summary["stress_from_s"] = stress_from[scenario, policy] if "stressor" in scenario else None
        summary["mean_degradation_per_repeat"] = per_repeat[scenario, policy]
        scenarios.setdefault(scenario, {})[policy] = summary
    for policies in scenarios.values():
        base = policies.get(BASELINE)
        for summary in policies.values():
            if base is None:
                continue
            summary["vs_least_loaded"] = {
                "mean_degradation_x_lower": base["mean_degradation"] / summary["mean_degradation"],
                "mean_excess_x_lower": base["mean_excess"] / max(summary["mean_excess"], 1e-9),
                "p99_latency_x_lower": base["p99_ms"] / summary["p99_ms"],
                "slo_attainment_points": 100 * (summary["slo_attainment"] - base["slo_attainment"]),
                "goodput_ratio": summary["goodput_rps"] / base["goodput_rps"],
            }
    return scenarios


def _markdown(results: dict, scenarios: dict) -> str:
    lines = [
        "# Routing evaluation",
        "",
        f"Mix {results['mix']} with an SLO deadline on every request; {results['repeats']} repeats of "
        f"{results['seconds']:g} s per policy and scenario, interleaved. Capacity of the mix "
        f"(closed loop, least-loaded): {results['capacity_rps']:.0f} req/s. Stressor: `interfleet stress "
        f"--cpus {results['stressor']['core']} --kind cpu` (the same stressor, started in process) from about "
        f"{results['stressor']['from_s']:g} s.",
        "",
        "Degradation: latency over the model's solo latency on the serving worker. Excess: degradation - 1. "
        "'x lower' compares with least-loaded (above 1: better than least-loaded).",
        "",
    ]
    for scenario, policies in scenarios.items():
        lines += [
            f"## {scenario}",
            "",
            "| policy | mean degr. (per repeat) | p99 degr. | mean excess | p50 ms | p99 ms | SLO | goodput/s "
            "| errors | degr. x lower | excess x lower | SLO pts vs LL |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for policy in results["policies"]:
            s = policies.get(policy)
            if s is None:
                continue
            vs = s.get("vs_least_loaded", {})
            repeats = ", ".join(f"{d:.2f}" for d in s["mean_degradation_per_repeat"])
            errors = ", ".join(f"{k} {v}" for k, v in sorted(s["errors"].items())) or "-"
            lines.append(
                f"| {policy} | {s['mean_degradation']:.2f} ({repeats}) | {s['p99_degradation']:.1f} | "
                f"{s['mean_excess']:.2f} | {s['p50_ms']:.2f} | {s['p99_ms']:.1f} | {100 * s['slo_attainment']:.1f}% | "
                f"{s['goodput_rps']:.1f} | {errors} | {vs.get('mean_degradation_x_lower', 1):.2f} | "
                f"{vs.get('mean_excess_x_lower', 1):.2f} | {vs.get('slo_attainment_points', 0):+.1f} |"
            )
        if "stressor" in scenario:
            shares = ", ".join(
                f"{p} {100 * policies[p]['stressed_period_to_stressed_workers']:.0f}%"
                for p in results["policies"]
                if p in policies
            )
            starts = [t for p in policies.values() for t in p["stress_from_s"]]
            lines += [
                "",
                f"The stressor started {min(starts):.1f} to {max(starts):.1f} s into the runs. Share of "
                f"the requests answered while it ran that {' and '.join(STRESSED_WORKERS)} (on the "
                f"stressed core) served: {shares}.",
            ]
        lines.append("")
    lines += ["![mean degradation](degradation.png)", "", "![stressor run](stressor-timeline.png)", ""]
    return "\n".join(lines)


def _plot_degradation(results: dict, scenarios: dict, path: Path) -> None:
    policies = results["policies"]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(policies)
    for i, policy in enumerate(policies):
        xs = [j + i * width for j in range(len(scenarios))]
        means = [scenarios[s][policy]["mean_degradation"] for s in scenarios]
        ax.bar(xs, means, width, label=policy)
        for x, s in zip(xs, scenarios):
            repeats = scenarios[s][policy]["mean_degradation_per_repeat"]
            ax.scatter([x] * len(repeats), repeats, color="black", s=8, zorder=3)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(scenarios))], list(scenarios))
    ax.set_ylabel("mean latency degradation (x solo)")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_stressor(results: dict, path: Path) -> None:
    runs = [r for r in results["runs"] if "stressor" in r["scenario"] and r["repeat"] == 0]
    if not runs:
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for run in runs:
        rows = [r for r in _rows(run["folder"]) if r["status"] == "OK"]
        seconds = np.array([float(r["scheduled_s"]) for r in rows])
        bins = np.arange(0, results["seconds"] + 1, 1.0)
        index = np.digitize(seconds, bins)
        p99, stressed = [], []
        for b in range(1, len(bins)):
            chosen = [rows[i] for i in np.flatnonzero(index == b)]
            p99.append(np.percentile([float(r["latency_ms"]) for r in chosen], 99) if chosen else np.nan)
            stressed.append(np.mean([r["worker"] in STRESSED_WORKERS for r in chosen]) if chosen else np.nan)
        top.plot(bins[:-1], p99, label=run["policy"])
        bottom.plot(bins[:-1], stressed, label=run["policy"])
    starts = [r.get("stress_from_s") or results["seconds"] / 2 for r in runs]
    for ax in (top, bottom):
        ax.axvspan(min(starts), max(starts), color="red", alpha=0.15)
    top.set_ylabel("p99 latency per second (ms)")
    top.set_yscale("log")
    bottom.set_ylabel(f"share to {', '.join(STRESSED_WORKERS)}")
    bottom.set_xlabel("seconds into the run (the stressor starts in the shaded span)")
    top.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(results: dict, out: Path) -> dict:
    scenarios = analyse(results)
    report = {**results, "scenarios": scenarios}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(_markdown(results, scenarios))
    _plot_degradation(results, scenarios, out / "degradation.png")
    _plot_stressor(results, out / "stressor-timeline.png")
    return report


if __name__ == "__main__":
    import sys

    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "results/routing")
    raw = json.loads((folder / "report.json").read_text())
    write_report({k: v for k, v in raw.items() if k != "scenarios"}, folder)
    print((folder / "report.md").read_text())
