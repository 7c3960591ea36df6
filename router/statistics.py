"""Merge ModelStatistics from several workers into the fleet-wide answer Triton clients expect."""

from __future__ import annotations

from collections.abc import Iterable

from tritonclient.grpc import service_pb2

_DURATIONS = (
    "success",
    "fail",
    "queue",
    "compute_input",
    "compute_infer",
    "compute_output",
    "cache_hit",
    "cache_miss",
)
_BATCH_DURATIONS = ("compute_input", "compute_infer", "compute_output")


def _add(total: service_pb2.StatisticDuration, part: service_pb2.StatisticDuration) -> None:
    total.count += part.count
    total.ns += part.ns


def merge_statistics(parts: Iterable[service_pb2.ModelStatistics]) -> list[service_pb2.ModelStatistics]:
    """Sum counts and durations per (model, version); batch statistics merge by batch size."""
    merged: dict[tuple[str, str], service_pb2.ModelStatistics] = {}
    batches: dict[tuple[str, str], dict[int, service_pb2.InferBatchStatistics]] = {}
    for part in parts:
        key = (part.name, part.version)
        total = merged.setdefault(key, service_pb2.ModelStatistics(name=part.name, version=part.version))
        total.last_inference = max(total.last_inference, part.last_inference)
        total.inference_count += part.inference_count
        total.execution_count += part.execution_count
        for name in _DURATIONS:
            _add(getattr(total.inference_stats, name), getattr(part.inference_stats, name))
        by_size = batches.setdefault(key, {})
        for batch in part.batch_stats:
            entry = by_size.setdefault(
                batch.batch_size, service_pb2.InferBatchStatistics(batch_size=batch.batch_size)
            )
            for name in _BATCH_DURATIONS:
                _add(getattr(entry, name), getattr(batch, name))
    for key, total in merged.items():
        total.batch_stats.extend(batches[key][size] for size in sorted(batches[key]))
    return [merged[key] for key in sorted(merged)]
