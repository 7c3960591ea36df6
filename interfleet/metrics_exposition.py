"""Prometheus text exposition with Triton's counter names exactly as Triton writes them.

prometheus_client follows OpenMetrics and writes every counter as `<name>_total`, so Triton's
`nv_inference_request_success` would reach Prometheus as `nv_inference_request_success_total`,
and Triton's dashboards and alerts would find nothing. A `TritonCounter` is a counter written
under its name alone, in its HELP, TYPE and sample lines, as Triton does; every other metric is
written by prometheus_client as usual (our own `interfleet_*` counters keep `_total`, the
Prometheus convention).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class TritonCounter(Metric):
    """A counter family exported under `name` exactly (no `_total`), with CounterMetricFamily's
    `add_metric(label_values, value)`."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()):
        super().__init__(name, documentation, "counter")
        self._labels = tuple(labels)

    def add_metric(self, values: Sequence[str], value: float) -> None:
        self.add_sample(self.name, dict(zip(self._labels, values)), value)


class _One(Collector):
    def __init__(self, metric: Metric):
        self._metric = metric

    def collect(self) -> Iterable[Metric]:
        yield self._metric


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _triton_lines(metric: TritonCounter) -> str:
    documentation = metric.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines = [f"# HELP {metric.name} {documentation}", f"# TYPE {metric.name} counter"]
    for sample in metric.samples:
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(sample.labels.items()))
        selector = f"{{{labels}}}" if labels else ""
        lines.append(f"{sample.name}{selector} {floatToGoString(sample.value)}")
    return "\n".join(lines) + "\n"


def exposition(registry: Collector) -> bytes:
    """Every metric of `registry` in Prometheus's text format (0.0.4)."""
    parts = []
    for metric in registry.collect():
        if isinstance(metric, TritonCounter):
            parts.append(_triton_lines(metric).encode())
        else:
            parts.append(generate_latest(_One(metric)))
    return b"".join(parts)
