"""A model placed on a device with what runs beside it: the vocabulary of every degradation estimate.

The router builds placements to ask for predictions, the predictor trains on them, the emulated
device model prices them, and the simulator moves them about; so they live here, on the ground
floor, in plain data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# A co-runner's load is never below this. The router leaves out a model idler than this beside
# the target (idle for the target's purposes); the predictor raises the load of a co-runner a
# batch record names to it (it overlapped the batch, so it ran, whatever its heartbeat's average).
MIN_CO_RUNNER_LOAD = 0.05


class CoRunner(NamedTuple):
    """A model running beside the target (a named tuple: the router builds many per second)."""

    model: str
    batch: int
    load: float  # busy fraction, 0..1


@dataclass(frozen=True)
class Placement:
    """A target on a device, with what runs beside it: everything a prediction needs."""

    target: str
    batch: int
    solo_ms: float
    co_runners: tuple[CoRunner, ...]
    cores: int
    threads: int
    l2_bytes: int
    l3_bytes: int
    peak_tflops: float = 0.0  # a GPU's spec-sheet compute and bandwidth; 0 for CPUs
    memory_gbps: float = 0.0
    stress: str = ""
    stress_intensity: float = 0.0
