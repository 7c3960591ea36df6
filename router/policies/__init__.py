"""Routing policies, chosen by name from the router's config (`policy` and `policy_args`).

Interference-aware also receives, from the router, the estimator of degradation and the online
correction; the others are built from their arguments alone (the oracle, for fleets of emulated
GPUs only, reads the emulated device model instead of the predictor).
"""

from __future__ import annotations

from typing import Any

from interfleet.config import ConfigError
from interfleet.router.policies.base import (Candidate, Decision, NoWorkerMeetsDeadline, RouteRequest,
                                             RoutingPolicy)
from interfleet.router.policies.interference_aware import Correction, DegradationEstimator, InterferenceAware
from interfleet.router.policies.least_loaded import LeastLoaded
from interfleet.router.policies.oracle import Oracle
from interfleet.router.policies.power_of_two import PowerOfTwoChoices
from interfleet.router.policies.round_robin import RoundRobin
from interfleet.router.policies.speed_aware import SpeedAware

POLICIES: dict[str, type[RoutingPolicy]] = {
    cls.name: cls for cls in (RoundRobin, LeastLoaded, PowerOfTwoChoices, SpeedAware, InterferenceAware, Oracle)
}


def make_policy(name: str, args: dict[str, Any] | None = None, estimator: DegradationEstimator | None = None,
                correction: Correction | None = None) -> RoutingPolicy:
    cls = POLICIES.get(name)
    if cls is None:
        raise ConfigError(f"unknown routing policy {name!r} (policies: {', '.join(POLICIES)})")
    runtime = {"estimator": estimator, "correction": correction} if cls is InterferenceAware else {}
    try:
        return cls(**(args or {}), **runtime)
    except TypeError as exc:
        raise ConfigError(f"policy {name!r}: bad policy_args {args}: {exc}") from exc


__all__ = ["Candidate", "Decision", "NoWorkerMeetsDeadline", "RouteRequest", "RoutingPolicy", "POLICIES",
           "make_policy"]
