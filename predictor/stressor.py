"""External interference in the manner of iBench: a process pinned to chosen cores that presses
on one shared resource, standing in for a tenant the fleet does not know about.

    cpu    arithmetic in a tight loop (steals cycles)
    cache  random reads over a buffer about the size of the L2 cache (evicts co-runners' lines)
    membw  streaming copies between buffers far larger than the last-level cache (memory bandwidth)

`intensity` is the duty cycle: the stressor works that fraction of each 10 ms period and sleeps
the rest. `interfleet stress --cpus 0 --kind membw --duration 30` runs one from the shell.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time

import numpy as np

KINDS = ("cpu", "cache", "membw")
PERIOD_S = 0.010


def _work(kind: str):
    if kind == "cpu":
        values = np.random.default_rng(0).random(256)
        return lambda: np.sqrt(values * values + 1.0).sum()
    if kind == "cache":
        buffer = np.random.default_rng(0).random((1 << 20) // 8)  # 1 MiB
        index = np.random.default_rng(1).integers(0, buffer.size, 4096)
        return lambda: buffer[index].sum()
    source = np.ones((64 << 20) // 8)  # 64 MiB, beyond any LLC here
    target = np.empty_like(source)
    return lambda: np.copyto(target, source)


def stress(kind: str, cpus: set[int] | None, duration_s: float, intensity: float = 1.0) -> None:
    """Run in the calling process until `duration_s` has passed."""
    if kind not in KINDS:
        raise ValueError(f"unknown stressor kind {kind!r} (kinds: {', '.join(KINDS)})")
    if cpus:
        os.sched_setaffinity(0, cpus)
    step = _work(kind)
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        busy_until = time.monotonic() + PERIOD_S * intensity
        while time.monotonic() < busy_until:
            step()
        if intensity < 1.0:
            time.sleep(PERIOD_S * (1.0 - intensity))


def start_stressor(
    kind: str, cpus: set[int], duration_s: float, intensity: float = 1.0
) -> multiprocessing.Process:
    process = multiprocessing.Process(target=stress, args=(kind, cpus, duration_s, intensity), daemon=True)
    process.start()
    return process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cpus", default="", help="cores to pin to, e.g. 0 or 0,1 (default: any)")
    parser.add_argument("--kind", choices=KINDS, default="cpu")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--intensity", type=float, default=1.0, help="duty cycle, 0..1")


def run(args: argparse.Namespace) -> None:
    cpus = {int(c) for c in args.cpus.split(",") if c.strip()}
    if not 0 < args.intensity <= 1:
        raise SystemExit("interfleet stress: --intensity must be in (0, 1]")
    print(f"stressing {args.kind} on cores {sorted(cpus) or 'any'} for {args.duration:g} s", flush=True)
    stress(args.kind, cpus or None, args.duration, args.intensity)
