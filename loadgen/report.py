"""Results of a run: one row per request, and the summary per model and overall.

Offered load is per second of the schedule; throughput and goodput (requests answered OK within
their SLO) are per second of the span until the last answer, which outlasts the schedule when
the server falls behind: dividing by the schedule would credit an overloaded server with work
it did after the run. SLO attainment is the share of *scheduled* requests that met their SLO:
errors and requests never answered are misses, so shedding load cannot improve it.
"""

from __future__ import annotations

import collections
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadgen.schedule import Schedule
from loadgen.sender import Outcomes

ROWS_FILE = "requests.csv"
SUMMARY_FILE = "summary.json"
ROW_FIELDS = ("request", "scheduled_s", "model", "slo_ms", "latency_ms", "status", "worker", "send_lag_ms")


def write_rows(path: Path, schedule: Schedule, outcomes: Outcomes) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ROW_FIELDS)
        for i in range(len(schedule)):
            writer.writerow(
                [
                    i,
                    f"{schedule.times[i]:.6f}",
                    schedule.models[schedule.model_index[i]],
                    f"{schedule.slo_ms[i]:g}",
                    "" if np.isnan(outcomes.latency_s[i]) else f"{outcomes.latency_s[i] * 1e3:.4f}",
                    outcomes.status[i],
                    outcomes.worker[i],
                    "" if np.isnan(outcomes.send_lag_s[i]) else f"{outcomes.send_lag_s[i] * 1e3:.4f}",
                ]
            )


@dataclass(frozen=True)
class Selection:
    latency_ms: np.ndarray  # latencies of the selected requests (NaN: not answered)
    slo_ms: np.ndarray
    status: list[str]


def summarise_selection(sel: Selection, duration: float, span: float) -> dict:
    """`duration`: the schedule's length; `span`: from the start to the run's last answer."""
    ok = np.array([s == "OK" for s in sel.status], dtype=bool)
    within = ok & (sel.latency_ms <= sel.slo_ms)
    answered = sel.latency_ms[ok]
    errors = collections.Counter(s for s in sel.status if s != "OK")
    scheduled = len(sel.status)

    def pct(q: float) -> float | None:
        return float(np.percentile(answered, q)) if len(answered) else None

    return {
        "scheduled": scheduled,
        "ok": int(ok.sum()),
        "errors": dict(sorted(errors.items())),
        "offered_rps": scheduled / duration,
        "throughput_rps": float(ok.sum()) / span,
        "goodput_rps": float(within.sum()) / span,
        "slo_attainment": float(within.sum()) / scheduled if scheduled else None,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": float(answered.max()) if len(answered) else None,
    }


def summarise(schedule: Schedule, outcomes: Outcomes, target: str, trace: str, seed: int) -> dict:
    latency_ms = outcomes.latency_s * 1e3
    answered_at = schedule.times + outcomes.latency_s
    span = max(schedule.duration, float(np.nanmax(answered_at)) if np.isfinite(answered_at).any() else 0.0)
    per_model = {}
    for index, model in enumerate(schedule.models):
        mask = schedule.model_index == index
        picked = np.flatnonzero(mask)
        per_model[model] = summarise_selection(
            Selection(latency_ms[mask], schedule.slo_ms[mask], [outcomes.status[i] for i in picked]),
            schedule.duration,
            span,
        )
    overall = summarise_selection(
        Selection(latency_ms, schedule.slo_ms, outcomes.status), schedule.duration, span
    )
    lag_ms = outcomes.send_lag_s[~np.isnan(outcomes.send_lag_s)] * 1e3
    lag = {
        "p50_ms": float(np.percentile(lag_ms, 50)) if len(lag_ms) else None,
        "p99_ms": float(np.percentile(lag_ms, 99)) if len(lag_ms) else None,
        "max_ms": float(lag_ms.max()) if len(lag_ms) else None,
    }
    served = collections.Counter(w for w in outcomes.worker if w)
    return {
        "target": target,
        "trace": trace,
        "seed": seed,
        "started_at": outcomes.started_at,
        "duration_s": schedule.duration,
        "span_s": span,
        "overall": overall,
        "models": per_model,
        "send_lag": lag,
        "served_by": dict(sorted(served.items())),
    }


def write_summary(path: Path, summary: dict) -> None:
    path.write_text(json.dumps(summary, indent=2))


def format_table(summary: dict) -> str:
    header = (
        f"{'model':<14}{'sched':>7}{'ok':>7}{'offered/s':>10}{'tput/s':>9}{'good/s':>9}{'SLO%':>7}"
        f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}  errors"
    )
    lines = [header]
    for name, s in [*summary["models"].items(), ("overall", summary["overall"])]:

        def ms(v):
            return f"{v:>9.2f}" if v is not None else f"{'-':>9}"

        attainment = f"{100 * s['slo_attainment']:>6.1f}%" if s["slo_attainment"] is not None else f"{'-':>7}"
        errors = ", ".join(f"{k}={v}" for k, v in s["errors"].items()) or "-"
        lines.append(
            f"{name:<14}{s['scheduled']:>7}{s['ok']:>7}{s['offered_rps']:>10.1f}{s['throughput_rps']:>9.1f}"
            f"{s['goodput_rps']:>9.1f}{attainment}{ms(s['p50_ms'])}{ms(s['p90_ms'])}{ms(s['p99_ms'])}"
            f"{ms(s['max_ms'])}  {errors}"
        )
    lag = summary["send_lag"]
    if lag["p99_ms"] is not None:
        lines.append(
            f"send lag: p50 {lag['p50_ms']:.3f} ms, p99 {lag['p99_ms']:.3f} ms, max {lag['max_ms']:.3f} ms"
        )
    if summary["served_by"]:
        lines.append("served by: " + ", ".join(f"{w}={n}" for w, n in summary["served_by"].items()))
    return "\n".join(lines)
