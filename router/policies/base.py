"""What a routing policy sees and decides.

A policy is a small class with one decision method over plain data: the candidate workers that
host the requested model, each with its current load. It knows nothing of gRPC or Redis, so
unit tests and a fleet simulator can drive the very same classes the router runs.

Simple policies implement `choose(model, candidates)`. A policy that predicts latency or may
refuse a request implements `decide(request, candidates)` instead, which also sees the time left
until the request's deadline and returns its prediction with the choice.

A policy declares the inputs it reads beyond each candidate's load (`needs`, a set of `Needs`);
whoever runs it, the router or the simulator, supplies exactly those and nothing it did not ask
for, so no caller has to know which policy is which.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from interfleet.placement import Placement


class Needs(enum.Flag):
    """An input a policy reads beyond each candidate's load."""

    NOTHING = 0
    PLACEMENT = enum.auto()  # candidates carry `placement` and `beside` (it costs a little per request)
    HOP = enum.auto()  # candidates carry `hop_ms`, a probed round trip to the worker
    DEGRADATION = enum.auto()  # the constructor takes `estimator`: predicted degradation of placements
    CORRECTION = enum.auto()  # the constructor takes `correction`: the online interference factor per worker


@dataclass(frozen=True, slots=True)
class Candidate:
    """One worker that hosts the model, as the router knows it at decision time."""

    worker_id: str
    outstanding: int  # requests this router has in flight to the worker (exact, local)
    queue_depth: int = 0  # worker-reported queue for this model (all routers; as of last heartbeat)
    in_flight: int = 0  # worker-reported in-flight requests for this model
    p50_latency_ms: float = 0.0  # worker-reported recent latency of this model there
    device: str = "cpu"
    outstanding_model: int = 0  # of `outstanding`, requests for this model
    solo_ms: float = 0.0  # the model's batch-1 latency there with nothing beside it; 0: unknown
    hop_ms: float = 0.0  # round trip of a no-op call to the worker; 0: not measured yet
    placement: Placement | None = None  # what runs on the worker's device now, in the predictor's terms
    # This router's requests in flight on the worker's cores that a request sent there would
    # slow down: (their solo ms, count x the share of the cores they reach).
    beside: tuple[tuple[float, float], ...] = ()
    max_batch: int = 1  # the model's largest batch there, and its latency (0: unknown)
    full_batch_ms: float = 0.0

    def drain_ms(self, count: int, per_request_ms: float) -> float:
        """How long `count` requests of the model take to run here, batched as the worker would:
        full batches of `max_batch`, then the rest, each batch's latency read off the line from
        solo (1 item) to `full_batch_ms` (`max_batch` items), scaled from solo to `per_request_ms`
        (solo times a degradation). Without a batch profile: one after another."""
        if self.max_batch <= 1 or self.full_batch_ms <= 0 or self.solo_ms <= 0:
            return count * per_request_ms
        per_item = max(0.0, self.full_batch_ms - self.solo_ms) / (self.max_batch - 1)
        full, rest = divmod(count, self.max_batch)
        batches_ms = full * self.full_batch_ms + (self.solo_ms + (rest - 1) * per_item if rest else 0.0)
        return batches_ms * per_request_ms / self.solo_ms


@dataclass(frozen=True, slots=True)
class RouteRequest:
    model: str
    budget_ms: float | None = None  # time left until the request's deadline; None: no deadline


@dataclass(frozen=True, slots=True)
class Decision:
    worker: Candidate
    predicted_ms: float | None = None  # predicted latency on `worker`, when the policy predicts
    uncorrected_ms: float | None = None  # the same before online interference correction
    predictions: tuple[tuple[str, float], ...] = ()  # (worker id, predicted ms) of every candidate
    service_ms: float | None = None  # of the prediction, the request's own execution on `worker`
    model: str = ""  # the request's model, when the policy predicts


class NoWorkerMeetsDeadline(Exception):
    """No candidate is predicted to answer within the request's deadline."""

    def __init__(self, model: str, budget_ms: float, predictions: Sequence[tuple[str, float]]):
        best_worker, best_ms = min(predictions, key=lambda p: p[1])
        super().__init__(
            f"no worker can serve '{model}' within its deadline: {budget_ms:.1f} ms left, "
            f"fastest predicted {best_ms:.1f} ms on worker {best_worker}"
        )
        self.predictions = tuple(predictions)


class RoutingPolicy(abc.ABC):
    """Chooses the worker for one request. `candidates` is never empty."""

    name: str = ""
    needs: ClassVar[Needs] = Needs.NOTHING
    # Decisions made without the inputs the policy wanted (no usable model, an undescribed
    # worker), by its fallback; a policy that always has what it needs leaves it at 0.
    fallbacks: int = 0

    @abc.abstractmethod
    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate: ...

    def decide(self, request: RouteRequest, candidates: Sequence[Candidate]) -> Decision:
        """The dispatcher's entry point; may raise NoWorkerMeetsDeadline."""
        return Decision(self.choose(request.model, candidates))

    def observe(self, decision: Decision, observed_ms: float) -> None:
        """The answered request's latency, for a policy that learns from outcomes."""
