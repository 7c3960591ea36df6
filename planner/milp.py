"""The placement program: how many GPUs of each type host each candidate group.

Variables: x[j] >= 0, an integer, for each candidate column j (a group on a GPU type, with each
member's capacity c[j, m] from `capacity`). Two objectives:

- **max-scale** (max-min over models): maximise s subject to

      sum_j c[j, m] x[j] >= s d[m]     for every model m with demand d[m] > 0
      sum_{j on type g} x[j] <= N[g]   for every GPU type g

  then, with s held at its optimum, a second solve spends what is left: it maximises the sum
  over models of min(carried[m] / (s d[m]), 2) (headroom, capped so one model cannot take it
  all), so spare GPUs back the models rather than idle;
- **fewest-gpus**: minimise sum_j x[j] subject to carried[m] >= d[m] and the same counts.

`integral=False` solves the LP relaxation instead: its optimum bounds the integer one, so it
is the planner's own upper bound (within its capacity model, not the device's).
Solved by HiGHS through `scipy.optimize.milp`, to a relative gap of `gap`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from planner.capacity import GroupCapacity

HEADROOM_CAP = 2.0


@dataclass(frozen=True)
class Solution:
    counts: tuple[int | float, ...]  # x[j], one per column
    scale: float  # s (max-scale), or 1.0 when the demand is met (fewest-gpus)
    solve_s: float
    status: str


class Infeasible(ValueError):
    """No placement of these columns serves the demand within the inventory."""


def _capacity_matrix(columns: Sequence[GroupCapacity], models: Sequence[str]) -> np.ndarray:
    return np.array([[c.rate(m) for c in columns] for m in models])


def _type_matrix(columns: Sequence[GroupCapacity], types: Sequence[str]) -> np.ndarray:
    return np.array([[1.0 if c.gpu == g else 0.0 for c in columns] for g in types])


def _solve(c, constraints, integrality, bounds, gap: float, time_limit_s: float):
    return milp(
        c,
        constraints=constraints,
        integrality=integrality,
        bounds=bounds,
        options={"mip_rel_gap": gap, "time_limit": time_limit_s, "presolve": True},
    )


def max_scale(
    columns: Sequence[GroupCapacity],
    counts: Mapping[str, int],
    demand: Mapping[str, float],
    integral: bool = True,
    gap: float = 1e-3,
    time_limit_s: float = 60.0,
) -> Solution:
    started = time.perf_counter()
    models = [m for m, d in demand.items() if d > 0]
    types = sorted(counts)
    n = len(columns)
    cap = _capacity_matrix(columns, models)
    per_type = _type_matrix(columns, types)
    d = np.array([demand[m] for m in models])
    # Variables: x (n), then s.
    c = np.zeros(n + 1)
    c[-1] = -1.0
    covered = LinearConstraint(np.hstack([cap, -d[:, None]]), 0.0, np.inf)
    inventory = LinearConstraint(
        np.hstack([per_type, np.zeros((len(types), 1))]), 0.0, [counts[g] for g in types]
    )
    kinds = np.array([1 if integral else 0] * n + [0])
    first = _solve(c, [covered, inventory], kinds, Bounds(0, np.inf), gap, time_limit_s)
    if first.x is None or -first.fun <= 0:
        raise Infeasible("no placement serves every model with demand: " + str(first.message))
    scale = -first.fun
    # Second solve: s fixed (a hair under its optimum), headroom h[m] <= carried / (s d), h <= cap.
    k = len(models)
    c2 = np.concatenate([np.zeros(n), -np.ones(k)])
    held = LinearConstraint(np.hstack([cap, np.zeros((k, k))]), d * scale * (1 - gap), np.inf)
    headroom = LinearConstraint(np.hstack([cap / (d * scale)[:, None], -np.eye(k)]), 0.0, np.inf)
    inventory2 = LinearConstraint(
        np.hstack([per_type, np.zeros((len(types), k))]), 0.0, [counts[g] for g in types]
    )
    kinds2 = np.array([1 if integral else 0] * n + [0] * k)
    upper = np.concatenate([np.full(n, np.inf), np.full(k, HEADROOM_CAP)])
    second = _solve(c2, [held, headroom, inventory2], kinds2, Bounds(0, upper), gap, time_limit_s)
    x = (second if second.x is not None else first).x[:n]
    return Solution(_counts(x, integral), scale, time.perf_counter() - started, str(second.message))


def fewest_gpus(
    columns: Sequence[GroupCapacity],
    counts: Mapping[str, int],
    demand: Mapping[str, float],
    integral: bool = True,
    gap: float = 1e-3,
    time_limit_s: float = 60.0,
) -> Solution:
    started = time.perf_counter()
    models = [m for m, d in demand.items() if d > 0]
    types = sorted(counts)
    cap = _capacity_matrix(columns, models)
    covered = LinearConstraint(cap, np.array([demand[m] for m in models]), np.inf)
    inventory = LinearConstraint(_type_matrix(columns, types), 0.0, [counts[g] for g in types])
    result = _solve(
        np.ones(len(columns)),
        [covered, inventory],
        np.full(len(columns), 1 if integral else 0),
        Bounds(0, np.inf),
        gap,
        time_limit_s,
    )
    if result.x is None:
        raise Infeasible("the inventory cannot serve this demand: " + str(result.message))
    return Solution(_counts(result.x, integral), 1.0, time.perf_counter() - started, str(result.message))


def _counts(x: np.ndarray, integral: bool) -> tuple[int | float, ...]:
    return tuple(int(round(v)) for v in x) if integral else tuple(float(v) for v in x)
