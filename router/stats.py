"""The router's own counters, kept as plain numbers on the request path and exported at scrape."""

from __future__ import annotations

import bisect
import collections
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from interfleet.metrics_exposition import TritonCounter
from interfleet.supervision import loop_metrics

# Upper bounds (seconds) of the end-to-end latency histogram: wide enough for a 1 ms CPU model and
# a 2 s deadline, fine enough near typical SLOs (10-200 ms) for p50/p99 by histogram_quantile.
LATENCY_BUCKETS_S = (
    0.0005,
    0.001,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
    2.0,
    5.0,
)


@dataclass
class RouterStats:
    success: collections.Counter = field(default_factory=collections.Counter)  # model
    failure: collections.Counter = field(default_factory=collections.Counter)  # (model, reason)
    duration_us: collections.Counter = field(default_factory=collections.Counter)  # model
    pending: collections.Counter = field(default_factory=collections.Counter)  # model
    dispatched: collections.Counter = field(default_factory=collections.Counter)  # (model, worker)
    retries: collections.Counter = field(default_factory=collections.Counter)  # model
    # Predicted against observed latency, per (model, worker), when the policy predicts.
    predictions: collections.Counter = field(default_factory=collections.Counter)
    predicted_ms: collections.Counter = field(default_factory=collections.Counter)
    observed_ms: collections.Counter = field(default_factory=collections.Counter)
    abs_error_ms: collections.Counter = field(default_factory=collections.Counter)
    # Successful requests per latency bucket (the last one is +Inf), and those within the model's SLO.
    latency_buckets: dict[str, list[int]] = field(default_factory=dict)
    within_slo: collections.Counter = field(default_factory=collections.Counter)  # model
    # Records refused from Redis: ("worker" | "predictor_model", reason).
    refused: collections.Counter = field(default_factory=collections.Counter)

    def forget_worker(self, worker_id: str) -> None:
        """Drop every per-worker series of a worker gone for good, so churn does not grow them forever."""
        for counter in (
            self.dispatched,
            self.predictions,
            self.predicted_ms,
            self.observed_ms,
            self.abs_error_ms,
        ):
            for key in [k for k in counter if k[1] == worker_id]:
                del counter[key]

    def record_answer(self, model: str, seconds: float, slo_ms: float) -> None:
        """One successful request: its count, latency, histogram bucket, and whether it met the SLO."""
        self.success[model] += 1
        self.duration_us[model] += int(seconds * 1e6)
        buckets = self.latency_buckets.get(model)
        if buckets is None:
            buckets = self.latency_buckets[model] = [0] * (len(LATENCY_BUCKETS_S) + 1)
        buckets[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        if slo_ms <= 0 or seconds * 1e3 <= slo_ms:  # a model without an SLO has nothing to miss
            self.within_slo[model] += 1

    def record_prediction(self, model: str, worker_id: str, predicted_ms: float, observed_ms: float) -> None:
        key = model, worker_id
        self.predictions[key] += 1
        self.predicted_ms[key] += predicted_ms
        self.observed_ms[key] += observed_ms
        self.abs_error_ms[key] += abs(observed_ms - predicted_ms)


def _family(kind, name: str, documentation: str, labels: list[str], counter: collections.Counter):
    """A metric family with one sample per key of `counter` (a label value, or a tuple of them)."""
    family = kind(name, documentation, labels=labels)
    for key, value in sorted(counter.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


class RouterCollector(Collector):
    def __init__(
        self,
        stats: RouterStats,
        workers_known,
        view_age_s,
        predictor,
        supervisor=None,
        detector=None,
        fallbacks=None,
    ):
        self._stats = stats
        self._supervisor = supervisor  # its loops' errors
        self._detector = detector  # InterferenceDetector, when the policy predicts
        self._fallbacks = fallbacks  # () -> decisions the policy made without a prediction
        self._workers_known = workers_known
        self._view_age_s = view_age_s
        self._predictor = predictor  # () -> (version, status)

    def collect(self):
        s = self._stats
        yield from (
            _family(
                TritonCounter,
                "nv_inference_request_success",
                "Requests answered successfully",
                ["model"],
                s.success,
            ),
            _family(
                TritonCounter,
                "nv_inference_request_failure",
                "Requests failed, by reason (status code)",
                ["model", "reason"],
                s.failure,
            ),
            _family(
                TritonCounter,
                "nv_inference_request_duration_us",
                "Cumulative end-to-end duration of successful requests at the router",
                ["model"],
                s.duration_us,
            ),
            _family(
                GaugeMetricFamily,
                "nv_inference_pending_request_count",
                "Requests in flight through the router",
                ["model"],
                s.pending,
            ),
            _family(
                CounterMetricFamily,
                "interfleet_router_request_within_slo",
                "Requests answered successfully within the model's SLO "
                "(its config's slo_ms; all of them, when it has none)",
                ["model"],
                s.within_slo,
            ),
            self._latency_histogram(),
            _family(
                CounterMetricFamily,
                "interfleet_router_dispatch",
                "Requests sent to each worker",
                ["model", "worker"],
                s.dispatched,
            ),
            _family(
                CounterMetricFamily,
                "interfleet_router_retries",
                "Requests retried on another worker",
                ["model"],
                s.retries,
            ),
            _family(
                CounterMetricFamily,
                "interfleet_router_refused_records",
                "Worker registrations and predictor models read from Redis and refused (unsigned, bad "
                "signature, not allowed, too large, unusable)",
                ["kind", "reason"],
                s.refused,
            ),
        )
        workers = GaugeMetricFamily("interfleet_router_workers", "Workers in the router's view")
        workers.add_metric([], self._workers_known())
        age = GaugeMetricFamily("interfleet_router_view_age_seconds", "Seconds since the view was refreshed")
        age.add_metric([], self._view_age_s())
        version, status = self._predictor()
        predictor = GaugeMetricFamily(
            "interfleet_router_predictor_version",
            "Version of the degradation model in use (0: none), by status",
            labels=["status"],
        )
        predictor.add_metric([status], version)
        yield from (workers, age, predictor)
        if self._supervisor is not None:
            yield from loop_metrics(self._supervisor)
        yield from self._prediction_metrics()

    def _latency_histogram(self) -> HistogramMetricFamily:
        s = self._stats
        family = HistogramMetricFamily(
            "interfleet_router_request_duration_seconds",
            "End-to-end latency of successful requests at the router",
            labels=["model"],
        )
        bounds = [*(repr(b) for b in LATENCY_BUCKETS_S), "+Inf"]
        for model, counts in sorted(s.latency_buckets.items()):
            cumulative, running = [], 0
            for bound, n in zip(bounds, counts):
                running += n
                cumulative.append((bound, running))
            family.add_metric([model], cumulative, sum_value=s.duration_us[model] / 1e6)
        return family

    def _prediction_metrics(self):
        s = self._stats
        labels = ["model", "worker"]
        yield from (
            _family(
                CounterMetricFamily,
                "interfleet_router_predictions",
                "Requests answered with a latency prediction",
                labels,
                s.predictions,
            ),
            _family(
                CounterMetricFamily,
                "interfleet_router_predicted_latency_ms",
                "Sum of predicted latencies",
                labels,
                s.predicted_ms,
            ),
            _family(
                CounterMetricFamily,
                "interfleet_router_observed_latency_ms",
                "Sum of observed latencies of predicted requests",
                labels,
                s.observed_ms,
            ),
            _family(
                CounterMetricFamily,
                "interfleet_router_prediction_abs_error_ms",
                "Sum of |observed - predicted| latency (divide by predictions for the mean)",
                labels,
                s.abs_error_ms,
            ),
        )
        if self._detector is not None:
            interfered = GaugeMetricFamily(
                "interfleet_router_worker_interfered",
                "1 while the worker runs persistently slower than predicted",
                labels=["worker"],
            )
            ratio = GaugeMetricFamily(
                "interfleet_router_worker_slowdown_ratio",
                "Observed over predicted latency (moving average), over the same ratio of "
                "the fleet's best other worker: what is compared with mark_ratio",
                labels=["worker"],
            )
            for worker, evidence in sorted(self._detector.workers.items()):
                interfered.add_metric([worker], float(evidence.interfered_since is not None))
                ratio.add_metric([worker], self._detector.excess(worker))
            yield from (interfered, ratio)
        if self._fallbacks is not None:
            fallbacks = CounterMetricFamily(
                "interfleet_router_policy_fallbacks",
                "Decisions made least-loaded for want of a usable prediction",
            )
            fallbacks.add_metric([], self._fallbacks())
            yield fallbacks
