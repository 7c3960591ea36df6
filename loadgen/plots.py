"""PNG plots of a run: latency CDF per model, and a timeline of load, throughput and p99."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display here or in CI
import matplotlib.pyplot as plt
import numpy as np

from loadgen.schedule import Schedule
from loadgen.sender import Outcomes

CDF_FILE = "latency_cdf.png"
TIMELINE_FILE = "timeline.png"


def plot_cdf(ax, latencies_ms: np.ndarray, label: str) -> None:
    values = np.sort(latencies_ms[~np.isnan(latencies_ms)])
    if len(values):
        ax.plot(values, np.arange(1, len(values) + 1) / len(values), label=label)


def finish_cdf(fig, ax, path: Path, title: str, xlabel: str) -> None:
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of requests")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_cdf(path: Path, schedule: Schedule, outcomes: Outcomes) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ok = np.array([s == "OK" for s in outcomes.status])
    for index, model in enumerate(schedule.models):
        mask = (schedule.model_index == index) & ok
        plot_cdf(ax, outcomes.latency_s[mask] * 1e3, model)
        slos = np.unique(schedule.slo_ms[schedule.model_index == index])
        if len(slos) == 1:
            ax.axvline(
                slos[0], linestyle=":", linewidth=1, color=ax.lines[-1].get_color() if ax.lines else None
            )
    finish_cdf(fig, ax, path, "Latency CDF per model", "latency from scheduled send (ms); dotted: SLO")


def timeline(path: Path, schedule: Schedule, outcomes: Outcomes, bin_s: float = 1.0) -> None:
    edges = np.arange(0.0, schedule.duration + bin_s, bin_s)
    centres = edges[:-1] + bin_s / 2
    offered, _ = np.histogram(schedule.times, edges)
    ok = np.array([s == "OK" for s in outcomes.status])
    finished = schedule.times + np.nan_to_num(outcomes.latency_s, nan=np.inf)
    answered, _ = np.histogram(finished[ok], edges)
    which = np.digitize(schedule.times, edges) - 1
    p99 = [
        np.percentile(outcomes.latency_s[(which == b) & ok] * 1e3, 99)
        if ((which == b) & ok).any()
        else np.nan
        for b in range(len(centres))
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(centres, offered / bin_s, label="offered (req/s)")
    ax.plot(centres, answered / bin_s, label="throughput (req/s)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("requests per second")
    right = ax.twinx()
    right.plot(centres, p99, color="tab:red", linestyle="--", label="p99 latency (ms)")
    right.set_ylabel("p99 latency (ms)")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles, [h.get_label() for h in handles], loc="upper left")
    ax.set_title("Offered load, throughput and p99 over time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
