"""What became of every request of a run, and the figures the routing evaluations report.

Every request counts. One answered within its SLO is met; one answered late counts with its
latency; one refused (by the router as unmeetable, or by a worker: queue full, deadline out of
reach) is missed and counts as if answered at its deadline, so a policy cannot improve its
latency figures by refusing. Degradation is a request's latency so counted over the best the
fleet could have done for it (its model's fastest solo latency anywhere in the fleet, plus the
hop to a worker and back): 1.0 is ideal, and slow devices, queues and co-location push it up.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadgen.schedule import Schedule

ANSWERED, REFUSED_AT_ROUTER, REFUSED_AT_WORKER = 1, 2, 3


def _figures(
    slo: np.ndarray,
    answered: np.ndarray,
    latency: np.ndarray,
    best: np.ndarray,
    span_s: float,
    models: np.ndarray,
) -> dict:
    """The figures of a run, every request counted (see the module docstring); times in ms.

    `by_model` repeats the latency percentiles per model: with a mix of fast and slow models the
    fleet-wide p50 falls in the fast model's tail, so only per-model figures compare runs.
    """
    total = len(slo)
    if not total:
        return {"requests": 0}
    counted = np.where(answered, latency, np.maximum(slo, np.nan_to_num(latency)))
    met = answered & (latency <= slo)
    degradation = counted / best
    return {
        "requests": total,
        "slo_attainment": float(met.mean()),
        "goodput_rps": float(met.sum() / max(span_s, 1e-9)),
        "offered_rps": float(total / max(span_s, 1e-9)),
        "refused_share": float((~answered).mean()),
        "late_share": float((answered & ~met).mean()),
        "p50_ms": float(np.percentile(counted, 50)),
        "p99_ms": float(np.percentile(counted, 99)),
        "mean_degradation": float(degradation.mean()),
        "p99_degradation": float(np.percentile(degradation, 99)),
        "by_model": {
            str(m): {
                "requests": int((models == m).sum()),
                "slo_attainment": float(met[models == m].mean()),
                **{f"p{q}_ms": float(np.percentile(counted[models == m], q)) for q in (50, 90, 99)},
            }
            for m in sorted(set(models.tolist()))
        },
    }


def loadgen_summary(
    rows_file: Path,
    best_ms: Mapping[str, float],
    time_scale: float = 1.0,
    warmup_s: float = 0.0,
    until_s: float = float("inf"),
) -> dict:
    """A load generator's `requests.csv` counted the same way, in device time (wall / `time_scale`):
    the requests scheduled from `warmup_s` until `until_s` (wall seconds)."""
    with Path(rows_file).open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if warmup_s <= float(r["scheduled_s"]) < until_s]
    if not rows:
        return {"requests": 0}
    slo = np.array([float(r["slo_ms"]) for r in rows]) / time_scale
    answered = np.array([r["status"] == "OK" for r in rows])
    latency = np.array([float(r["latency_ms"]) if r["latency_ms"] else np.nan for r in rows]) / time_scale
    models = np.array([r["model"] for r in rows])
    best = np.array([best_ms[m] for m in models])
    span_s = (float(rows[-1]["scheduled_s"]) - float(rows[0]["scheduled_s"])) / time_scale
    statuses = {s: sum(r["status"] == s for r in rows) for s in sorted({r["status"] for r in rows})}
    return {**_figures(slo, answered, latency, best, span_s, models), "statuses": statuses}


@dataclass
class Outcomes:
    schedule: Schedule
    outcome: np.ndarray  # per request: ANSWERED, REFUSED_*; -1 while pending
    finished: np.ndarray  # seconds: answered, or refused
    worker: list[str]

    def record(self, index: int, outcome: int, at: float, worker_id: str) -> None:
        self.outcome[index] = outcome
        self.finished[index] = at
        self.worker[index] = worker_id

    def summary(self, best_ms: Mapping[str, float], warmup_s: float = 0.0) -> dict:
        s = self.schedule
        keep = s.times >= warmup_s
        times = s.times[keep]
        best = np.array([best_ms[m] for m in s.models])[s.model_index[keep]]
        latency = (self.finished[keep] - times) * 1e3
        span_s = float(times[-1] - times[0]) if len(times) else 0.0
        return {
            **_figures(
                s.slo_ms[keep],
                self.outcome[keep] == ANSWERED,
                latency,
                best,
                span_s,
                np.array(s.models)[s.model_index[keep]],
            ),
            "unanswered": int((self.outcome[keep] < 0).sum()),
        }

    def by_worker(self, warmup_s: float = 0.0) -> dict[tuple[str, str], tuple[int, int]]:
        """(worker, model) -> (requests it took, of them met within their SLO): the per-GPU
        record. Requests the router refused reached no worker and are not in it."""
        s = self.schedule
        met = (self.outcome == ANSWERED) & ((self.finished - s.times) * 1e3 <= s.slo_ms)
        counts: dict[tuple[str, str], list[int]] = {}
        for i in np.flatnonzero(s.times >= warmup_s):
            worker = self.worker[i]
            if worker:
                entry = counts.setdefault((worker, s.models[s.model_index[i]]), [0, 0])
                entry[0] += 1
                entry[1] += int(met[i])
        return {key: (n, k) for key, (n, k) in counts.items()}
