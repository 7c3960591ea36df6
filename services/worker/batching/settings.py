"""A model's batching settings: the repository's config.yaml, overridden by the worker's config.

batching:
  policy: adaptive        # none | fixed | aimd | adaptive (default)
  max_batch_size: 16      # at most the model's max_batch_size (the default)
  late: serve             # serve (default) or reject requests that miss the SLO
  max_delay_ms: 2         # policy arguments: fixed (max_delay_ms), aimd (step, backoff,
                          # target_fraction), adaptive (min_gain)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from interfleet.errors import ConfigError
from interfleet.repository import ModelSpec

DEFAULT_POLICY = "adaptive"
LATE_POLICIES = ("serve", "reject")


@dataclass(frozen=True)
class BatchingSettings:
    policy: str
    max_batch_size: int
    late: str
    args: dict[str, Any] = field(default_factory=dict)


def resolve(spec: ModelSpec, worker_overrides: dict[str, Any]) -> BatchingSettings:
    merged: dict[str, Any] = {
        **spec.batching,
        **(worker_overrides.get("*") or {}),
        **(worker_overrides.get(spec.name) or {}),
    }
    policy = str(merged.pop("policy", DEFAULT_POLICY))
    if spec.max_batch_size == 0:  # a model without a batch axis runs each request alone
        policy, merged = "none", {k: v for k, v in merged.items() if k in ("late", "max_batch_size")}
    late = str(merged.pop("late", "serve"))
    if late not in LATE_POLICIES:
        raise ConfigError(f"model '{spec.name}': batching.late must be serve or reject, got {late!r}")
    size = int(merged.pop("max_batch_size", spec.batch_limit))
    if not 1 <= size <= spec.batch_limit:
        raise ConfigError(f"model '{spec.name}': batching.max_batch_size must be 1..{spec.batch_limit}")
    return BatchingSettings(policy, size, late, merged)
