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


class RouterCollector(Collector):
    def __init__(self, stats: RouterStats, workers_known, view_age_s, predictor):
        self._stats = stats
        self._workers_known = workers_known
        self._view_age_s = view_age_s
        self._predictor = predictor       # () -> (version, status)

    def collect(self):
        s = self._stats
        success = CounterMetricFamily("nv_inference_request_success", "Requests answered successfully",
                                      labels=["model"])
        for model, n in sorted(s.success.items()):
            success.add_metric([model], n)
        failure = CounterMetricFamily("nv_inference_request_failure", "Requests failed, by reason (status code)",
                                      labels=["model", "reason"])
        for (model, reason), n in sorted(s.failure.items()):
            failure.add_metric([model, reason], n)
        duration = CounterMetricFamily("nv_inference_request_duration_us",
                                       "Cumulative end-to-end duration of successful requests at the router",
                                       labels=["model"])
        for model, us in sorted(s.duration_us.items()):
            duration.add_metric([model], us)
        pending = GaugeMetricFamily("nv_inference_pending_request_count", "Requests in flight through the router",
                                    labels=["model"])
        for model, n in sorted(s.pending.items()):
            pending.add_metric([model], n)
        dispatched = CounterMetricFamily("interfleet_router_dispatch", "Requests sent to each worker",
                                         labels=["model", "worker"])
        for (model, worker), n in sorted(s.dispatched.items()):
            dispatched.add_metric([model, worker], n)
        retries = CounterMetricFamily("interfleet_router_retries", "Requests retried on another worker",
                                      labels=["model"])
        for model, n in sorted(s.retries.items()):
            retries.add_metric([model], n)
        workers = GaugeMetricFamily("interfleet_router_workers", "Workers in the router's view")
        workers.add_metric([], self._workers_known())
        age = GaugeMetricFamily("interfleet_router_view_age_seconds", "Seconds since the view was refreshed")
        age.add_metric([], self._view_age_s())
        version, status = self._predictor()
        predictor = GaugeMetricFamily("interfleet_router_predictor_version",
                                      "Version of the degradation model in use (0: none), by status",
                                      labels=["status"])
        predictor.add_metric([status], version)
        yield from (success, failure, duration, pending, dispatched, retries, workers, age, predictor)
