"""`interfleet loadgen compare DIR...`: summaries side by side, ratios to the first, one overlay plot."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from loadgen.errors import LoadgenError
from loadgen.report import ROWS_FILE, SUMMARY_FILE

METRICS = (
    "offered_rps",
    "throughput_rps",
    "goodput_rps",
    "slo_attainment",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
)


def load_run(folder: Path) -> dict:
    try:
        return json.loads((folder / SUMMARY_FILE).read_text())
    except OSError:
        raise LoadgenError(f"{folder} holds no {SUMMARY_FILE}: is it a loadgen output folder?") from None
    except json.JSONDecodeError as exc:
        raise LoadgenError(f"{folder / SUMMARY_FILE} is not valid JSON: {exc}") from None


def compare_table(names: list[str], summaries: list[dict]) -> str:
    width = max(14, *(len(n) + 2 for n in names))
    lines = [f"{'overall':<16}" + "".join(f"{n:>{width}}" for n in names)]
    for metric in METRICS:
        values = [s["overall"].get(metric) for s in summaries]
        base = values[0]
        cells = []
        for value in values:
            if value is None:
                cells.append(f"{'-':>{width}}")
                continue
            ratio = f" ({value / base:.2f}x)" if base not in (None, 0) else ""
            cells.append(f"{value:.3g}{ratio}".rjust(width))
        lines.append(f"{metric:<16}" + "".join(cells))
    return "\n".join(lines)


def overlay_plot(path: Path, names: list[str], folders: list[Path]) -> None:
    from loadgen.plots import finish_cdf, plot_cdf, plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, folder in zip(names, folders):
        with (folder / ROWS_FILE).open() as handle:
            latencies = [float(r["latency_ms"]) for r in csv.DictReader(handle) if r["status"] == "OK"]
        plot_cdf(ax, np.array(latencies), name)
    finish_cdf(fig, ax, path, "Latency CDF, all models", "latency from scheduled send (ms)")


def compare(folders: list[Path], plot_path: Path) -> str:
    if len(folders) < 2:
        raise LoadgenError("compare needs at least two output folders")
    summaries = [load_run(f) for f in folders]
    names = [f.name or str(f) for f in folders]
    overlay_plot(plot_path, names, folders)
    return compare_table(names, summaries) + f"\noverlay plot: {plot_path}"
