"""Routing policies, chosen by name from the router's config (`policy` and `policy_args`).

A policy is built from its arguments plus the runtime inputs its class declares in `needs`:
the degradation estimator (`Needs.DEGRADATION`) and the online correction (`Needs.CORRECTION`).
Which estimator that is is the caller's choice, not the policy's: the router's published
predictor model, or, in evaluations on emulated GPUs, the emulated device model's true
degradation (`emulation.true_degradation`), interference-aware routing fed the truth (evaluations only).
"""

from __future__ import annotations

from typing import Any

from interfleet.errors import ConfigError
from router.policies.base import (
    Candidate,
    Decision,
    Needs,
    NoWorkerMeetsDeadline,
    RouteRequest,
    RoutingPolicy,
)
from router.policies.interference_aware import Correction, DegradationEstimator, InterferenceAware
from router.policies.least_loaded import LeastLoaded
from router.policies.power_of_two import PowerOfTwoChoices
from router.policies.round_robin import RoundRobin
from router.policies.speed_aware import SpeedAware

POLICIES: dict[str, type[RoutingPolicy]] = {
    cls.name: cls for cls in (RoundRobin, LeastLoaded, PowerOfTwoChoices, SpeedAware, InterferenceAware)
}


def make_policy(
    name: str,
    args: dict[str, Any] | None = None,
    estimator: DegradationEstimator | None = None,
    correction: Correction | None = None,
) -> RoutingPolicy:
    """The policy `name` with its `args`, given the runtime inputs it declares it needs."""
    cls = POLICIES.get(name)
    if cls is None:
        raise ConfigError(f"unknown routing policy {name!r} (policies: {', '.join(POLICIES)})")
    runtime: dict[str, Any] = {}
    if Needs.DEGRADATION in cls.needs:
        runtime["estimator"] = estimator
    if Needs.CORRECTION in cls.needs:
        runtime["correction"] = correction
    try:
        return cls(**(args or {}), **runtime)
    except TypeError as exc:
        raise ConfigError(f"policy {name!r}: bad policy_args {args}: {exc}") from exc


__all__ = [
    "Candidate",
    "Decision",
    "Needs",
    "NoWorkerMeetsDeadline",
    "RouteRequest",
    "RoutingPolicy",
    "POLICIES",
    "make_policy",
]
