"""Feature rows for the degradation predictor, symmetric in the co-runners.

One row describes a target model at a batch size on a device while a set of co-runners (each
with its own batch size and current load, its busy fraction) and possibly an external stressor
press on the same device:

- the target's static graph features at its batch size and its solo latency on the device;
- the co-runners aggregated: their count, their total and largest load, and the sum and max of
  their graph features weighted by their load (so the order of co-runners cannot matter, and a
  model idling beside the target counts for little);
- external pressure by kind (cpu, cache, memory bandwidth) at its intensity;
- the device by descriptors, not by name (cores or SMs, threads, cache sizes, a GPU's peak
  compute and bandwidth), so the model can carry over to devices it has seen less of.

The label is the log of degradation: co-located latency over solo latency.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from interfleet.graph_features import GraphFeatures, model_features
from interfleet.memo import BoundedMemo
from interfleet.placement import CoRunner, Placement
from interfleet.repository import load_spec
from predictor.stressor import KINDS

_WEIGHTED = ("flops", "param_bytes", "activation_bytes", "arithmetic_intensity")

FEATURE_NAMES: tuple[str, ...] = (
    "t_log_flops",
    "t_log_param_bytes",
    "t_log_activation_bytes",
    "t_conv_share",
    "t_matmul_share",
    "t_log_intensity",
    "t_batch",
    "t_log_solo_ms",
    "co_count",
    "co_load_sum",
    "co_load_max",
    *(f"co_{name}_{agg}" for name in _WEIGHTED for agg in ("sum", "max")),
    *(f"stress_{kind}" for kind in KINDS),
    "d_cores",
    "d_threads",
    "d_log_l2",
    "d_log_l3",
    "d_log_tflops",
    "d_log_memory_gbps",
    "oversubscription",
)


_NO_CO_RUNNERS = [0.0] * (2 * len(_WEIGHTED))  # log1p of an empty sum and max
_NO_STRESS = (0.0,) * len(KINDS)


class FeatureBuilder:
    """Turns placements into the model's feature matrix; graph features are cached per model and batch."""

    def __init__(self, repository: Path, graphs: Callable[[str, int], GraphFeatures | None] | None = None):
        self._repository = Path(repository)
        # Graph features of models that are not in the repository (the emulator's realistic
        # workloads, known by their statistics only); None for a model it does not know.
        self._graphs = graphs
        # A co-runner's load times each weighable graph feature: the router hands out the same
        # few co-runners again and again.
        self._weighted: BoundedMemo[CoRunner, tuple[float, ...]] = BoundedMemo(self._weigh)

    @functools.cache
    def graph(self, model: str, batch: int) -> GraphFeatures:
        known = self._graphs(model, batch) if self._graphs is not None else None
        if known is not None:
            return known
        return model_features(load_spec(self._repository, model).path, batch)

    @functools.cache
    def _weighable(self, model: str, batch: int) -> tuple[float, ...]:
        """The graph features that co-runners contribute weighted by their load, in _WEIGHTED's order."""
        graph = self.graph(model, batch)
        return tuple(getattr(graph, name) for name in _WEIGHTED)

    def _weigh(self, c: CoRunner) -> tuple[float, ...]:
        return tuple(c.load * f for f in self._weighable(c.model, c.batch))

    @functools.cache
    def _target_terms(self, model: str, batch: int) -> tuple[float, ...]:
        """The row's first terms: the target's graph at its batch size, and the batch size."""
        t = self.graph(model, batch)
        return (
            math.log(t.flops),
            math.log1p(t.param_bytes),
            math.log1p(t.activation_bytes),
            t.conv_flop_share,
            t.matmul_flop_share,
            math.log(t.arithmetic_intensity),
            float(batch),
        )

    @staticmethod
    @functools.cache
    def _device_terms(
        cores: int, threads: int, l2_bytes: int, l3_bytes: int, peak_tflops: float, memory_gbps: float
    ) -> tuple[float, ...]:
        return (
            float(cores),
            float(threads),
            math.log1p(l2_bytes),
            math.log1p(l3_bytes),
            math.log1p(peak_tflops),
            math.log1p(memory_gbps),
        )

    def row(self, p: Placement) -> list[float]:
        # Built term by term from parts cached per model and per device: the router builds one for
        # every placement its degradation cache has not seen, on the request path.
        loads = [c.load for c in p.co_runners]
        # math.fsum is exactly rounded, so the sums do not depend on the co-runners' order.
        load_sum = math.fsum(loads)
        if loads:
            columns = zip(*map(self._weighted.__getitem__, p.co_runners))
            weighted = [
                v for column in columns for v in (math.log1p(math.fsum(column)), math.log1p(max(column)))
            ]
        else:
            weighted = _NO_CO_RUNNERS
        return [
            *self._target_terms(p.target, p.batch),
            math.log(p.solo_ms),
            float(len(loads)),
            load_sum,
            max(loads, default=0.0),
            *weighted,
            *(_NO_STRESS if not p.stress else (p.stress_intensity if p.stress == k else 0.0 for k in KINDS)),
            *self._device_terms(p.cores, p.threads, p.l2_bytes, p.l3_bytes, p.peak_tflops, p.memory_gbps),
            # Threads wanting the cores per core: co-runners (and a stressor) time-slice a core set.
            p.threads * (1.0 + load_sum + p.stress_intensity) / p.cores,
        ]

    def matrix(self, placements: Sequence[Placement]) -> np.ndarray:
        return np.asarray([self.row(p) for p in placements], dtype=np.float64)


def placement_of(row: dict) -> Placement:
    """A dataset row (profiled, or made online) as a placement."""
    return Placement(
        target=row["target"],
        batch=row["batch"],
        solo_ms=row["solo_ms"],
        co_runners=tuple(CoRunner(m, int(b), float(load)) for m, b, load in row["co_runners"]),
        cores=row["cores"],
        threads=row["threads"],
        l2_bytes=row["l2_bytes"],
        l3_bytes=row["l3_bytes"],
        peak_tflops=row.get("peak_tflops", 0.0),
        memory_gbps=row.get("memory_gbps", 0.0),
        stress=row["stress"],
        stress_intensity=row["stress_intensity"],
    )


def row_of(p: Placement, device: str, samples_ms: Sequence[float]) -> dict:
    """A placement with its measured latencies as a dataset row (`placement_of`'s inverse)."""
    return {
        "device": device,
        "cores": p.cores,
        "threads": p.threads,
        "l2_bytes": p.l2_bytes,
        "l3_bytes": p.l3_bytes,
        "peak_tflops": p.peak_tflops,
        "memory_gbps": p.memory_gbps,
        "target": p.target,
        "batch": p.batch,
        "solo_ms": p.solo_ms,
        "mean_ms": float(np.mean(samples_ms)),
        "p95_ms": float(np.percentile(samples_ms, 95)),
        "degree": len(p.co_runners),
        "co_runners": [[c.model, c.batch, c.load] for c in p.co_runners],
        "stress": p.stress,
        "stress_intensity": p.stress_intensity,
        "samples_ms": list(samples_ms),
    }
