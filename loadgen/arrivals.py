"""Arrival processes: when requests are sent, as seconds from the start of a run.

Each process is a pure function of its parameters, the run's duration and a seeded numpy
Generator, so the same seed gives the same schedule. A spec is written `kind:key=value,...`:

    poisson:rate=200                         exponential inter-arrivals
    gamma:rate=200,cv=4                      gamma inter-arrivals with that coefficient of variation
    onoff:on_rate=400,off_rate=20,on_s=2,off_s=4   Markov-modulated: exponential on/off periods
    ramp:start=10,end=400                    rate rising linearly over the run
    diurnal:mean=200,amplitude=0.6,period_s=60     sinusoidal rate around the mean
    csv:path=trace.csv                       replay `timestamp_s,model[,slo_ms]` rows
    azure:path=invocations_per_function.csv  replay the Azure Functions 2019 per-minute counts

Time-varying rates (ramp, diurnal) are drawn by thinning a Poisson process at the peak rate,
which is exact for any bounded rate function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from loadgen.errors import LoadgenError

SYNTHETIC = ("poisson", "gamma", "onoff", "ramp", "diurnal")
REPLAY = ("csv", "azure")


@dataclass(frozen=True)
class ArrivalSpec:
    kind: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ArrivalSpec:
        kind, _, rest = text.partition(":")
        kind = kind.strip().lower()
        if kind not in SYNTHETIC + REPLAY:
            raise LoadgenError(
                f"unknown trace kind {kind!r} in {text!r} (kinds: {', '.join(SYNTHETIC + REPLAY)})"
            )
        params = {}
        for item in filter(None, (p.strip() for p in rest.split(","))):
            key, eq, value = item.partition("=")
            if not eq:
                raise LoadgenError(f"trace spec {text!r}: expected key=value, got {item!r}")
            params[key.strip()] = value.strip()
        return cls(kind, params)

    def number(self, key: str, default: float | None = None) -> float:
        if key not in self.params:
            if default is None:
                raise LoadgenError(f"trace '{self.kind}' needs {key}=...")
            return default
        try:
            value = float(self.params[key])
        except ValueError:
            raise LoadgenError(
                f"trace '{self.kind}': {key} must be a number, got {self.params[key]!r}"
            ) from None
        if value < 0:
            raise LoadgenError(f"trace '{self.kind}': {key} must be >= 0")
        return value


def poisson(rate: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    return renewal(lambda n: rng.exponential(1.0 / rate, n), rate, duration) if rate > 0 else np.empty(0)


def gamma(rate: float, cv: float, duration: float, rng: np.random.Generator) -> np.ndarray:
    """Gamma inter-arrivals with mean 1/rate and coefficient of variation `cv` (shape 1/cv^2)."""
    if rate <= 0:
        return np.empty(0)
    if cv <= 0:
        raise LoadgenError("gamma: cv must be > 0")
    shape = 1.0 / cv**2
    return renewal(lambda n: rng.gamma(shape, 1.0 / (rate * shape), n), rate, duration)


def renewal(draw: Callable[[int], np.ndarray], rate: float, duration: float) -> np.ndarray:
    """Cumulative sums of drawn gaps, drawn in chunks until the run's end is passed."""
    chunks, elapsed = [], 0.0
    while elapsed <= duration:
        gaps = draw(max(64, int(rate * duration * 0.25) + 1))
        times = elapsed + np.cumsum(gaps)
        chunks.append(times)
        elapsed = float(times[-1])
    times = np.concatenate(chunks)
    return times[times < duration]


def on_off(
    on_rate: float, off_rate: float, on_s: float, off_s: float, duration: float, rng: np.random.Generator
) -> np.ndarray:
    """A two-state Markov-modulated Poisson process starting in the on state."""
    if on_s <= 0 or off_s <= 0:
        raise LoadgenError("onoff: on_s and off_s must be > 0")
    pieces, start, on = [], 0.0, True
    while start < duration:
        length = rng.exponential(on_s if on else off_s)
        end = min(duration, start + length)
        rate = on_rate if on else off_rate
        if rate > 0:
            pieces.append(start + poisson(rate, end - start, rng))
        start, on = end, not on
    return np.concatenate(pieces) if pieces else np.empty(0)


def thinned(
    rate_at: Callable[[np.ndarray], np.ndarray], peak: float, duration: float, rng: np.random.Generator
) -> np.ndarray:
    candidates = poisson(peak, duration, rng)
    keep = rng.random(len(candidates)) * peak < rate_at(candidates)
    return candidates[keep]


def synthetic_times(spec: ArrivalSpec, duration: float, rng: np.random.Generator) -> np.ndarray:
    if spec.kind == "poisson":
        return poisson(spec.number("rate"), duration, rng)
    if spec.kind == "gamma":
        return gamma(spec.number("rate"), spec.number("cv", 1.0), duration, rng)
    if spec.kind == "onoff":
        return on_off(
            spec.number("on_rate"),
            spec.number("off_rate", 0.0),
            spec.number("on_s", 1.0),
            spec.number("off_s", 1.0),
            duration,
            rng,
        )
    if spec.kind == "ramp":
        start, end = spec.number("start"), spec.number("end")
        return thinned(lambda t: start + (end - start) * t / duration, max(start, end), duration, rng)
    if spec.kind == "diurnal":
        mean, amplitude, period = (
            spec.number("mean"),
            spec.number("amplitude", 0.5),
            spec.number("period_s", 60.0),
        )
        if amplitude > 1:
            raise LoadgenError("diurnal: amplitude is a fraction of the mean, at most 1")
        return thinned(
            lambda t: mean * (1 + amplitude * np.sin(2 * np.pi * t / period)),
            mean * (1 + amplitude),
            duration,
            rng,
        )
    raise LoadgenError(f"'{spec.kind}' is a replayed trace, not a synthetic process")
