"""How fast each member of a co-location group can be served on one GPU type, within its SLO.

A group is a set of models sharing one GPU (MPS). At a planned load every member's queue is
busy almost all the time, so each runs beside every other member running (load 1, the
conservative case). For member m at batch b:

    T(b)    = solo(m, b) x D(m, b | the others at their batches, load 1)    (one batch's duration)
    latency = 2 T(b) x tail + hop                                            (p99 of a request)
    rate(b) = utilisation x b / T(b)                                         (requests per second)

A request arriving while a batch runs waits for it (up to T), then runs in the next (T); `tail`
is the p99 of a batch's duration over its median, from the profile's repeated runs, and `hop`
the return to the router. The member's capacity is the largest rate(b) over the profiled batch
sizes b <= its batch limit whose latency fits its SLO. Its batch cap there is the largest b
whose one batch (T(b) x tail + hop) fits the SLO: a ceiling for the worker's own deadline-aware
batcher, which picks the batch as the queue stands (a cap at the rate-optimal b starved it in
trials when a burst needed a larger one). The
others' batches are their own choices: the computation runs twice, the second time with the
batches the first one chose. `solo` comes from profiles (measured batches, each model on each
GPU type); `D` from a degradation estimator (the predictor, or anything with its signature).
`utilisation` is the share of the bare service rate a Poisson stream can be offered with its
p99 still in the SLO; `simulation.planning` checks it against the single-GPU simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from interfleet.devices import DeviceTerms
from interfleet.placement import CoRunner, Placement

# (model, GPU type) -> {batch size: median solo latency in ms}
SoloProfile = Mapping[tuple[str, str], Mapping[int, float]]
# The router's estimator signature: predicted mean degradation per placement, or None.
Estimator = Callable[[Sequence[Placement]], Sequence[float] | np.ndarray | None]

UTILISATION = 0.85
TAIL = 1.10


@dataclass(frozen=True)
class ModelNeeds:
    """What the planner must respect for a model: its SLO and the largest batch it accepts."""

    name: str
    slo_ms: float
    max_batch_size: int


@dataclass(frozen=True)
class GroupCapacity:
    """A group on a GPU type: each member's capacity (requests/s) and batch cap there. With a
    `partition`, the GPU is split into `slices` MIG slices of that type, each hosting the group
    (the rates are the slices' together)."""

    gpu: str
    models: tuple[str, ...]
    rates: tuple[float, ...]
    batches: tuple[int, ...]
    partition: str = ""
    slices: int = 1

    def rate(self, model: str) -> float:
        return self.rates[self.models.index(model)] if model in self.models else 0.0

    @property
    def feasible(self) -> bool:
        """Every member can be served within its SLO: a group where one cannot is never placed."""
        return all(r > 0 for r in self.rates)


class CapacityModel:
    """Group capacities from solo profiles and a degradation estimator (the module's algorithm)."""

    def __init__(
        self,
        models: Mapping[str, ModelNeeds],
        profile: SoloProfile,
        estimator: Estimator | None,
        hop_ms: float,
        utilisation: float = UTILISATION,
        tail: float = TAIL,
    ):
        self.models = models
        self.profile = profile
        self.estimator = estimator
        self.hop_ms = hop_ms
        self.utilisation = utilisation
        self.tail = tail

    def _sizes(self, model: str, gpu: str) -> list[int]:
        limit = self.models[model].max_batch_size
        return sorted(b for b in self.profile[(model, gpu)] if b <= max(1, limit))

    def group(self, gpu: str, terms: DeviceTerms, members: Sequence[str]) -> GroupCapacity:
        members = tuple(sorted(members))
        if any((m, gpu) not in self.profile for m in members):  # never measured there: not placed there
            return GroupCapacity(gpu, members, (0.0,) * len(members), (1,) * len(members))
        batches = {m: min(4, self._sizes(m, gpu)[-1]) for m in members}
        rates: dict[str, float] = {}
        for _ in range(2):  # the second pass sees the batches the first one chose
            chosen = {m: self._best(gpu, terms, m, members, batches) for m in members}
            rates = {m: rate for m, (rate, _) in chosen.items()}
            batches = {m: batch for m, (_, batch) in chosen.items()}
            if len(members) == 1:
                break
        return GroupCapacity(
            gpu, members, tuple(rates[m] for m in members), tuple(batches[m] for m in members)
        )

    def _best(
        self, gpu: str, terms: DeviceTerms, model: str, members: tuple[str, ...], batches: Mapping[str, int]
    ) -> tuple[float, int]:
        solo = self.profile[(model, gpu)]
        sizes = self._sizes(model, gpu)
        co_runners = [CoRunner(o, batches[o], 1.0) for o in members if o != model]
        if co_runners and self.estimator is not None:
            placements = [terms.placement(model, b, solo[b], co_runners) for b in sizes]
            estimated = self.estimator(placements)
            if estimated is None:
                raise ValueError(f"the degradation estimator cannot describe {model} on {gpu}")
            degradation = [max(1.0, float(d)) for d in estimated]
        else:
            degradation = [1.0] * len(sizes)
        rate, cap = 0.0, sizes[0]
        slo_ms = self.models[model].slo_ms
        for b, d in zip(sizes, degradation):
            duration_ms = solo[b] * d
            if 2 * duration_ms * self.tail + self.hop_ms <= slo_ms:
                rate = max(rate, self.utilisation * b / duration_ms * 1e3)
            if duration_ms * self.tail + self.hop_ms <= slo_ms:
                cap = b
        return rate, cap
