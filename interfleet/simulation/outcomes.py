"""What became of every request of a run, and the figures the routing evaluations report.

Every request counts. One answered within its SLO is met; one answered late counts with its
latency; one refused (by the router as unmeetable, or by a worker: queue full, deadline out of
reach) is missed and counts as if answered at its deadline, so a policy cannot improve its
latency figures by refusing. Degradation is a request's latency so counted over the best the
fleet could have done for it (its model's fastest solo latency anywhere in the fleet, plus the
hop to a worker and back): 1.0 is ideal, and slow devices, queues and co-location push it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from interfleet.loadgen.schedule import Schedule

ANSWERED, REFUSED_AT_ROUTER, REFUSED_AT_WORKER = 1, 2, 3


@dataclass
class Outcomes:
    schedule: Schedule
    outcome: np.ndarray          # per request: ANSWERED, REFUSED_*; -1 while pending
    finished: np.ndarray         # seconds: answered, or refused
    worker: list[str]

    def record(self, index: int, outcome: int, at: float, worker_id: str) -> None:
        self.outcome[index] = outcome
        self.finished[index] = at
        self.worker[index] = worker_id

    def summary(self, best_ms: Mapping[str, float], warmup_s: float = 0.0) -> dict:
        s = self.schedule
        keep = s.times >= warmup_s
        slo = s.slo_ms[keep]
        answered = self.outcome[keep] == ANSWERED
        latency = (self.finished[keep] - s.times[keep]) * 1e3
        counted = np.where(answered, latency, np.maximum(slo, np.nan_to_num(latency)))
        met = answered & (latency <= slo)
        best = np.array([best_ms[m] for m in s.models])[s.model_index[keep]]
        degradation = counted / best
        span = max(1e-9, float(s.times[keep][-1] - s.times[keep][0])) if keep.any() else 1e-9
        total = int(keep.sum())
        return {
            "requests": total,
            "slo_attainment": float(met.mean()) if total else 0.0,
            "goodput_rps": float(met.sum() / span),
            "offered_rps": float(total / span),
            "refused_share": float((~answered).mean()) if total else 0.0,
            "late_share": float((answered & ~met).mean()) if total else 0.0,
            "unanswered": int((self.outcome[keep] < 0).sum()),
            "p50_ms": float(np.percentile(counted, 50)) if total else 0.0,
            "p99_ms": float(np.percentile(counted, 99)) if total else 0.0,
            "mean_degradation": float(degradation.mean()) if total else 0.0,
            "p99_degradation": float(np.percentile(degradation, 99)) if total else 0.0,
        }
