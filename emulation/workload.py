"""What a model asks of a device, read from its ONNX graph: FLOPs, bytes and kernels per batch.

FLOPs and activation bytes grow linearly with the batch (every layer runs once per item), the
weights are read once per batch, and the graph's node count stands for the kernels launched.
Shape inference is slow (tens of milliseconds), so the graph is read once, at batch 1 and 2, and
the linear parts are extrapolated from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interfleet.graph_features import GraphFeatures, model_features
from interfleet.repository import load_spec


@dataclass(frozen=True)
class Workload:
    model: str
    flops_per_item: float
    param_bytes: float  # FP32 bytes as stored in the graph
    activation_bytes_per_item: float
    kernels: int

    @classmethod
    def of(cls, model: str, one: GraphFeatures, two: GraphFeatures) -> Workload:
        return cls(
            model,
            two.flops - one.flops,
            one.param_bytes,
            two.activation_bytes - one.activation_bytes,
            one.node_count,
        )

    def flops(self, batch: int) -> float:
        return self.flops_per_item * batch

    def activation_bytes(self, batch: int) -> float:
        return self.activation_bytes_per_item * batch


def workload_of(repository: Path, model: str) -> Workload:
    path = load_spec(Path(repository), model).path
    return Workload.of(model, model_features(path, 1), model_features(path, 2))


def repository_workloads(repository: Path, models: list[str]) -> dict[str, Workload]:
    return {m: workload_of(repository, m) for m in models}
