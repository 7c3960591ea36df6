"""The worker's Prometheus metrics, in Triton's names, read from the models' statistics at scrape time.

Reading the same `ModelStats` that ModelStatistics reports keeps the two from drifting apart,
and costs nothing on the request path.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from interfleet.metrics_exposition import TritonCounter
from interfleet.supervision import Supervisor, loop_metrics
from services.worker.runner import ModelRunner


class WorkerCollector(Collector):
    def __init__(
        self, worker_id: str, runners: Mapping[str, ModelRunner], supervisor: Supervisor | None = None
    ):
        self._worker_id = worker_id
        self._runners = runners
        self._supervisor = supervisor

    def collect(self):
        labels = ["model", "version", "worker"]
        success = TritonCounter(
            "nv_inference_request_success", "Successful inference requests", labels=labels
        )
        failure = TritonCounter(
            "nv_inference_request_failure", "Failed inference requests, by reason", labels=[*labels, "reason"]
        )
        count = TritonCounter("nv_inference_count", "Inferences performed (batch items)", labels=labels)
        executions = TritonCounter("nv_inference_exec_count", "Model executions (batches)", labels=labels)
        request_us = TritonCounter(
            "nv_inference_request_duration_us", "Cumulative request duration", labels=labels
        )
        queue_us = TritonCounter("nv_inference_queue_duration_us", "Cumulative queue duration", labels=labels)
        infer_us = TritonCounter(
            "nv_inference_compute_infer_duration_us", "Cumulative compute duration", labels=labels
        )
        pending = GaugeMetricFamily(
            "nv_inference_pending_request_count", "Requests queued or running", labels=labels
        )
        for name, runner in sorted(self._runners.items()):
            stats = runner.stats
            values = [name, stats.version, self._worker_id]
            success.add_metric(values, stats.success.count)
            for reason, n in sorted(stats.failures_by_reason.items()):
                failure.add_metric([*values, reason], n)
            count.add_metric(values, stats.inference_count)
            executions.add_metric(values, stats.execution_count)
            request_us.add_metric(values, stats.success.ns / 1e3)
            queue_us.add_metric(values, stats.queue.ns / 1e3)
            infer_us.add_metric(values, stats.compute_infer.ns / 1e3)
            pending.add_metric(values, runner.in_flight)
        yield from (success, failure, count, executions, request_us, queue_us, infer_us, pending)
        if self._supervisor is not None:
            yield from loop_metrics(self._supervisor)
