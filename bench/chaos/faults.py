"""The faults `make chaos` injects, each a scenario on a steady load at half the fleet's capacity.

A scenario is plain data: when the fault starts and ends (seconds into the scenario), what to
do at each of those moments, and how the load's rate moves. The targets each is held to are in
`report.py`.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from processes import ChaosFleet

FAULT_AT_S = 5.0


@dataclass(frozen=True)
class Fault:
    name: str
    title: str
    duration_s: float  # of the whole scenario
    # When the fault is over (the process is back, the load normal): `end` runs then. A fault whose
    # `start` takes longer (a rolling restart waits for each router) is over when `start` returns.
    ends_at_s: float
    start: Callable[[ChaosFleet], None]
    end: Callable[[ChaosFleet], None] = lambda fleet: None
    load_factor: float = 1.0  # the rate during the fault, relative to the steady one
    victim: str = ""  # the worker the fault hits, if it hits one


def faults(victim: str) -> list[Fault]:
    return [
        Fault(
            "worker-sigkill",
            f"SIGKILL of worker {victim}, restarted 7 s later",
            20.0,
            12.0,
            start=lambda f: f.workers[victim].signal(signal.SIGKILL),
            end=lambda f: f.workers[victim].start(),
            victim=victim,
        ),
        Fault(
            "worker-hang",
            f"SIGSTOP of worker {victim} for 5 s, then SIGCONT",
            20.0,
            10.0,
            start=lambda f: f.workers[victim].signal(signal.SIGSTOP),
            end=lambda f: f.workers[victim].signal(signal.SIGCONT),
            victim=victim,
        ),
        Fault(
            "redis-restart",
            "Redis killed, restarted empty 1 s later",
            15.0,
            6.0,
            start=lambda f: f.redis.stop(),
            end=lambda f: f.redis.start(),
        ),
        Fault(
            "router-rolling-restart",
            "rolling restart of both routers (each drained by SIGTERM, started again, the next once it serves)",
            20.0,
            5.0,
            start=lambda f: f.rolling_restart(),
        ),
        Fault("overload-3x", "3x the load for 20 s", 35.0, 25.0, start=lambda f: None, load_factor=3.0),
        Fault("burst-10x", "10x the load for 5 s", 20.0, 10.0, start=lambda f: None, load_factor=10.0),
    ]
