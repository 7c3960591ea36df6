"""A run's schedule: for every request, when to send it, which model, and its SLO.

Built once, before the run, from the arrival spec, the model mix and the seed; sending then
follows it exactly (open loop), whatever the responses do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadgen.arrivals import REPLAY, ArrivalSpec, synthetic_times
from loadgen.errors import LoadgenError
from loadgen.traces import read_azure_trace, read_csv_trace


@dataclass(frozen=True)
class Schedule:
    times: np.ndarray  # seconds from the start, sorted
    model_index: np.ndarray  # index into `models`
    slo_ms: np.ndarray  # per request
    models: tuple[str, ...]
    duration: float

    def __len__(self) -> int:
        return len(self.times)


def parse_mix(text: str) -> dict[str, float]:
    """`tiny_cnn=3,mlp=1` (or `tiny_cnn,mlp` for equal weights) -> normalised weights, order kept."""
    weights: dict[str, float] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, eq, value = item.partition("=")
        try:
            weight = float(value) if eq else 1.0
        except ValueError:
            raise LoadgenError(f"model mix: weight of {name!r} must be a number, got {value!r}") from None
        if weight <= 0:
            raise LoadgenError(f"model mix: weight of {name!r} must be > 0")
        weights[name.strip()] = weight
    if not weights:
        raise LoadgenError("model mix is empty: give --models name[=weight],...")
    total = sum(weights.values())
    return {name: w / total for name, w in weights.items()}


def build_schedule(
    spec: ArrivalSpec,
    mix: dict[str, float],
    slo_of: Callable[[str], float],
    duration: float,
    seed: int,
    time_scale: float = 1.0,
) -> Schedule:
    """`slo_of(model)` gives a model's SLO (and rejects unknown models); a trace's own per-request SLO wins.

    `time_scale` stretches (> 1) or compresses (< 1) the process or trace in time.
    """
    if duration <= 0 or time_scale <= 0:
        raise LoadgenError("duration and time scale must be > 0")
    rng = np.random.default_rng(seed)
    names = list(mix)
    if spec.kind in REPLAY:
        path = Path(spec.params.get("path", ""))
        if not spec.params.get("path"):
            raise LoadgenError(f"trace '{spec.kind}' needs path=...")
        if spec.kind == "csv":
            replayed = read_csv_trace(path)
        else:
            minutes = int(spec.number("minutes")) if "minutes" in spec.params else None
            replayed = read_azure_trace(path, names, rng, minutes)
        times = replayed.times * time_scale
        keep = times < duration
        models = [m for m, k in zip(replayed.models, keep) if k]
        names = list(dict.fromkeys([*names, *models])) if spec.kind == "csv" else names
        index = np.array([names.index(m) for m in models], dtype=np.int32)
        own_slo = replayed.slo_ms[keep]
        times = times[keep]
    else:
        times = synthetic_times(spec, duration / time_scale, rng) * time_scale
        index = rng.choice(len(names), size=len(times), p=[mix[n] for n in names]).astype(np.int32)
        own_slo = np.full(len(times), np.nan)
    default_slo = np.array([slo_of(n) for n in names], dtype=np.float64)
    slo = np.where(np.isnan(own_slo), default_slo[index], own_slo) if len(index) else own_slo
    return Schedule(times, index, slo.astype(np.float64), tuple(names), duration)
