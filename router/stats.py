"""The router's own counters, kept as plain numbers on the request path and exported at scrape."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


@dataclass
class RouterStats:
    success: collections.Counter = field(default_factory=collections.Counter)            # model
    failure: collections.Counter = field(default_factory=collections.Counter)            # (model, reason)
    duration_us: collections.Counter = field(default_factory=collections.Counter)        # model
    pending: collections.Counter = field(default_factory=collections.Counter)            # model
    dispatched: collections.Counter = field(default_factory=collections.Counter)         # (model, worker)
    retries: collections.Counter = field(default_factory=collections.Counter)            # model
    # Predicted against observed latency, per (model, worker), when the policy predicts.
    predictions: collections.Counter = field(default_factory=collections.Counter)
    predicted_ms: collections.Counter = field(default_factory=collections.Counter)
    observed_ms: collections.Counter = field(default_factory=collections.Counter)
    abs_error_ms: collections.Counter = field(default_factory=collections.Counter)

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
    def __init__(self, stats: RouterStats, workers_known, view_age_s, predictor, detector=None, fallbacks=None):
        self._stats = stats
        self._detector = detector         # InterferenceDetector, when the policy predicts
        self._fallbacks = fallbacks       # () -> decisions the policy made without a prediction
        self._workers_known = workers_known
        self._view_age_s = view_age_s
        self._predictor = predictor       # () -> (version, status)

    def collect(self):
        s = self._stats
        yield from (
            _family(CounterMetricFamily, "nv_inference_request_success", "Requests answered successfully",
                    ["model"], s.success),
            _family(CounterMetricFamily, "nv_inference_request_failure", "Requests failed, by reason (status code)",
                    ["model", "reason"], s.failure),
            _family(CounterMetricFamily, "nv_inference_request_duration_us",
                    "Cumulative end-to-end duration of successful requests at the router", ["model"], s.duration_us),
            _family(GaugeMetricFamily, "nv_inference_pending_request_count", "Requests in flight through the router",
                    ["model"], s.pending),
            _family(CounterMetricFamily, "interfleet_router_dispatch", "Requests sent to each worker",
                    ["model", "worker"], s.dispatched),
            _family(CounterMetricFamily, "interfleet_router_retries", "Requests retried on another worker",
                    ["model"], s.retries),
        )
        workers = GaugeMetricFamily("interfleet_router_workers", "Workers in the router's view")
        workers.add_metric([], self._workers_known())
        age = GaugeMetricFamily("interfleet_router_view_age_seconds", "Seconds since the view was refreshed")
        age.add_metric([], self._view_age_s())
        version, status = self._predictor()
        predictor = GaugeMetricFamily("interfleet_router_predictor_version",
                                      "Version of the degradation model in use (0: none), by status",
                                      labels=["status"])
        predictor.add_metric([status], version)
        yield from (workers, age, predictor)
        yield from self._prediction_metrics()

    def _prediction_metrics(self):
        s = self._stats
        labels = ["model", "worker"]
        yield from (
            _family(CounterMetricFamily, "interfleet_router_predictions",
                    "Requests answered with a latency prediction", labels, s.predictions),
            _family(CounterMetricFamily, "interfleet_router_predicted_latency_ms", "Sum of predicted latencies",
                    labels, s.predicted_ms),
            _family(CounterMetricFamily, "interfleet_router_observed_latency_ms",
                    "Sum of observed latencies of predicted requests", labels, s.observed_ms),
            _family(CounterMetricFamily, "interfleet_router_prediction_abs_error_ms",
                    "Sum of |observed - predicted| latency (divide by predictions for the mean)", labels,
                    s.abs_error_ms),
        )
        if self._detector is not None:
            interfered = GaugeMetricFamily("interfleet_router_worker_interfered",
                                           "1 while the worker runs persistently slower than predicted",
                                           labels=["worker"])
            ratio = GaugeMetricFamily("interfleet_router_worker_slowdown_ratio",
                                      "Observed over predicted latency (moving average), over the same ratio of "
                                      "the fleet's best other worker: what is compared with mark_ratio",
                                      labels=["worker"])
            for worker, evidence in sorted(self._detector.workers.items()):
                interfered.add_metric([worker], float(evidence.interfered_since is not None))
                ratio.add_metric([worker], self._detector.excess(worker))
            yield from (interfered, ratio)
        if self._fallbacks is not None:
            fallbacks = CounterMetricFamily("interfleet_router_policy_fallbacks",
                                            "Decisions made least-loaded for want of a usable prediction")
            fallbacks.add_metric([], self._fallbacks())
            yield fallbacks
