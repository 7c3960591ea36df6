"""What a routing policy sees and decides.

A policy is a small class with one decision method over plain data: the candidate workers that
host the requested model, each with its current load. It knows nothing of gRPC or Redis, so
unit tests and a fleet simulator can drive the very same classes the router runs.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """One worker that hosts the model, as the router knows it at decision time."""

    worker_id: str
    outstanding: int            # requests this router has in flight to the worker (exact, local)
    queue_depth: int = 0        # worker-reported queue for this model (all routers; as of last heartbeat)
    in_flight: int = 0          # worker-reported in-flight requests for this model
    p50_latency_ms: float = 0.0  # worker-reported recent latency of this model there
    device: str = "cpu"


class RoutingPolicy(abc.ABC):
    """Chooses the worker for one request. `candidates` is never empty."""

    name: str = ""

    @abc.abstractmethod
    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate: ...
