"""Routing policies, chosen by name from the router's config (`policy` and `policy_args`)."""

from __future__ import annotations

from typing import Any

from interfleet.config import ConfigError
from interfleet.router.policies.base import Candidate, RoutingPolicy
from interfleet.router.policies.least_loaded import LeastLoaded
from interfleet.router.policies.round_robin import RoundRobin

POLICIES: dict[str, type[RoutingPolicy]] = {cls.name: cls for cls in (RoundRobin, LeastLoaded)}


def make_policy(name: str, args: dict[str, Any] | None = None) -> RoutingPolicy:
    cls = POLICIES.get(name)
    if cls is None:
        raise ConfigError(f"unknown routing policy {name!r} (policies: {', '.join(POLICIES)})")
    try:
        return cls(**(args or {}))
    except TypeError as exc:
        raise ConfigError(f"policy {name!r}: bad policy_args {args}: {exc}") from exc


__all__ = ["Candidate", "RoutingPolicy", "POLICIES", "make_policy"]
