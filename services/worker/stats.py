"""Per-model statistics: cumulative counts as Triton's ModelStatistics reports them, and a
recent window (latency percentiles, throughput, requests offered, busy fraction) for the
heartbeat. Rates are over the window, or over the time since the model started serving when
that is shorter (a model loaded at runtime reads its true rate at once, not a fraction of it).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field

import numpy as np
from tritonclient.grpc import service_pb2

WINDOW_S = 10.0


@dataclass
class _Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int, count: int = 1) -> None:
        self.count += count
        self.ns += ns

    def fill(self, proto: service_pb2.StatisticDuration) -> None:
        proto.count, proto.ns = self.count, self.ns


@dataclass
class _BatchDurations:
    compute_input: _Duration = field(default_factory=_Duration)
    compute_infer: _Duration = field(default_factory=_Duration)
    compute_output: _Duration = field(default_factory=_Duration)


class ModelStats:
    """Thread-safe: the event loop records requests, the execution thread records batches."""

    def __init__(self, name: str, version: str):
        self.name, self.version = name, version
        self._lock = threading.Lock()
        self.success = _Duration()
        self.fail = _Duration()
        self.queue = _Duration()
        self.compute_input = _Duration()
        self.compute_infer = _Duration()
        self.compute_output = _Duration()
        self.inference_count = 0
        self.execution_count = 0
        self.last_inference_ms = 0
        self.failures_by_reason: collections.Counter[str] = collections.Counter()
        self._by_batch: dict[int, _BatchDurations] = collections.defaultdict(_BatchDurations)
        # (finished_at_s, compute_s, requests) of recent batches, for the heartbeat's load figures.
        self._recent: collections.deque[tuple[float, float, int]] = collections.deque()
        self._recent_latency: collections.deque[tuple[float, float]] = collections.deque()
        self._arrivals: collections.deque[float] = collections.deque()  # every request's end, ok or not
        self._serving_since: float | None = None

    def serving_since(self, at_s: float) -> None:
        """The model started taking requests at `at_s` (wall seconds): rates count from there."""
        with self._lock:
            self._serving_since = at_s

    def record_batch(
        self,
        batch_size: int,
        requests: int,
        finished_at_s: float,
        input_ns: int,
        infer_ns: int,
        output_ns: int,
    ) -> None:
        with self._lock:
            self.inference_count += batch_size
            self.execution_count += 1
            self.last_inference_ms = int(finished_at_s * 1000)
            durations = self._by_batch[batch_size]
            for total, per_batch, ns in (
                (self.compute_input, durations.compute_input, input_ns),
                (self.compute_infer, durations.compute_infer, infer_ns),
                (self.compute_output, durations.compute_output, output_ns),
            ):
                total.add(ns, requests)
                per_batch.add(ns)
            self._recent.append((finished_at_s, (input_ns + infer_ns + output_ns) / 1e9, requests))

    def record_request(self, ok: bool, total_ns: int, queue_ns: int, now_s: float) -> None:
        with self._lock:
            (self.success if ok else self.fail).add(total_ns)
            self._arrivals.append(now_s)
            if ok:
                self.queue.add(queue_ns)
                self._recent_latency.append((now_s, total_ns / 1e6))

    def record_failure(self, reason: str) -> None:
        with self._lock:
            self.failures_by_reason[reason] += 1

    def window(self, now_s: float) -> tuple[float, float, float, float, float]:
        """(p50 ms, p99 ms, throughput rps, offered rps, busy fraction) over the last WINDOW_S
        seconds. Offered: every request that ended (answered, refused, failed or cancelled), the
        demand on this replica even when it cannot keep up."""
        with self._lock:
            horizon = now_s - WINDOW_S
            while self._recent and self._recent[0][0] < horizon:
                self._recent.popleft()
            while self._recent_latency and self._recent_latency[0][0] < horizon:
                self._recent_latency.popleft()
            while self._arrivals and self._arrivals[0] < horizon:
                self._arrivals.popleft()
            busy = sum(compute for _, compute, _ in self._recent)
            answered = sum(requests for _, _, requests in self._recent)
            offered = len(self._arrivals)
            latencies = [latency for _, latency in self._recent_latency]
            since = self._serving_since
        span = WINDOW_S if since is None else max(1.0, min(WINDOW_S, now_s - since))
        p50, p99 = np.percentile(latencies, [50, 99]).tolist() if latencies else (0.0, 0.0)
        return p50, p99, answered / span, offered / span, min(1.0, busy / span)

    def to_proto(self) -> service_pb2.ModelStatistics:
        with self._lock:
            proto = service_pb2.ModelStatistics(
                name=self.name,
                version=self.version,
                last_inference=self.last_inference_ms,
                inference_count=self.inference_count,
                execution_count=self.execution_count,
            )
            stats = proto.inference_stats
            for duration, target in (
                (self.success, stats.success),
                (self.fail, stats.fail),
                (self.queue, stats.queue),
                (self.compute_input, stats.compute_input),
                (self.compute_infer, stats.compute_infer),
                (self.compute_output, stats.compute_output),
            ):
                duration.fill(target)
            for batch_size in sorted(self._by_batch):
                durations = self._by_batch[batch_size]
                entry = proto.batch_stats.add(batch_size=batch_size)
                durations.compute_input.fill(entry.compute_input)
                durations.compute_infer.fill(entry.compute_infer)
                durations.compute_output.fill(entry.compute_output)
            return proto
