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
  With `prefer` (column -> a weight in [0, 1], how much of it a live fleet already has in
  place), column j costs 1 - KEEP_BONUS p[j] / (number of preferred types): the bonuses of
  a whole plan sum to under one GPU, so among the plans with the fewest GPUs the program picks
  the one that moves the fewest models, and never spends a GPU to move fewer.

`types_per_model` (optional) adds binaries y[m, g], "model m is placed on type g", with
x[j] <= N[g] y[m, g] for every member m of column j and sum_g y[m, g] <= types_per_model: each
model's replicas then sit on at most that many GPU types, which routers that do not know device
speeds (least-loaded, power-of-two) balance far better than a spread over fast and slow GPUs.

`integral=False` solves the LP relaxation instead (y relaxed too): its optimum bounds the
integer one, so it is the planner's own upper bound (within its capacity model, not the
device's). Solved by HiGHS through `scipy.optimize.milp`, to a relative gap of `gap`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from planner.capacity import GroupCapacity

HEADROOM_CAP = 2.0
KEEP_BONUS = 0.5


@dataclass(frozen=True)
class Solution:
    counts: tuple[int | float, ...]  # x[j], one per column
    scale: float  # s (max-scale), or 1.0 when the demand is met (fewest-gpus)
    solve_s: float
    status: str


class Infeasible(ValueError):
    """No placement of these columns serves the demand within the inventory."""


class _Program:
    """Columns of variables (x first) and rows of constraints, assembled densely: the programs
    here have a few hundred variables whatever the fleet's size."""

    def __init__(
        self,
        columns: Sequence[GroupCapacity],
        counts: Mapping[str, int],
        integral: bool,
        models: Sequence[str],
        types_per_model: int | None,
    ):
        """x and each type's inventory row; with `types_per_model`, its binaries and rows are
        added last, when the program is solved (after the caller's own variables and rows)."""
        self.columns = columns
        self.counts = counts
        self.types = sorted(counts)
        self.integral = integral
        self.kinds = [1 if integral else 0] * len(columns)
        self.upper = [np.inf] * len(columns)
        self.rows: list[tuple[dict[int, float], float, float]] = []
        self._spans = (list(models), types_per_model) if types_per_model else None
        self.inventory()

    def add_variables(self, count: int, integer: bool = False, upper: float = np.inf) -> int:
        first = len(self.kinds)
        self.kinds += [1 if (integer and self.integral) else 0] * count
        self.upper += [upper] * count
        return first

    def row(self, coefficients: dict[int, float], low: float, high: float) -> None:
        self.rows.append((coefficients, low, high))

    def inventory(self) -> None:
        for g in self.types:
            self.row({j: 1.0 for j, c in enumerate(self.columns) if c.gpu == g}, 0.0, self.counts[g])

    def types_per_model(self, models: Sequence[str], most: int) -> None:
        first = self.add_variables(len(models) * len(self.types), integer=True, upper=1.0)
        y = {
            (m, g): first + i * len(self.types) + t
            for i, m in enumerate(models)
            for t, g in enumerate(self.types)
        }
        for j, column in enumerate(self.columns):
            for m in column.models:
                if (m, column.gpu) in y:
                    self.row({j: 1.0, y[(m, column.gpu)]: -float(self.counts[column.gpu])}, -np.inf, 0.0)
        for m in models:
            self.row({y[(m, g)]: 1.0 for g in self.types}, 0.0, float(most))

    def solve(self, objective: dict[int, float], gap: float, time_limit_s: float):
        if self._spans is not None:
            self.types_per_model(*self._spans)
            self._spans = None
        width = len(self.kinds)
        c = np.zeros(width)
        for i, v in objective.items():
            c[i] = v
        matrix = np.zeros((len(self.rows), width))
        for r, (coefficients, _, _) in enumerate(self.rows):
            for i, v in coefficients.items():
                matrix[r, i] = v
        return milp(
            c,
            constraints=[LinearConstraint(matrix, [r[1] for r in self.rows], [r[2] for r in self.rows])],
            integrality=np.array(self.kinds),
            bounds=Bounds(0, np.array(self.upper)),
            options={"mip_rel_gap": gap, "time_limit": time_limit_s, "presolve": True},
        )


def _carried(program: _Program, model: str) -> dict[int, float]:
    return {j: c.rate(model) for j, c in enumerate(program.columns) if c.rate(model) > 0}


def max_scale(
    columns: Sequence[GroupCapacity],
    counts: Mapping[str, int],
    demand: Mapping[str, float],
    integral: bool = True,
    gap: float = 1e-3,
    time_limit_s: float = 60.0,
    types_per_model: int | None = None,
) -> Solution:
    started = time.perf_counter()
    models = [m for m, d in demand.items() if d > 0]
    first = _Program(columns, counts, integral, models, types_per_model)
    s = first.add_variables(1)
    for m in models:
        first.row({**_carried(first, m), s: -demand[m]}, 0.0, np.inf)
    result = first.solve({s: -1.0}, gap, time_limit_s)
    if result.x is None or -result.fun <= 0:
        raise Infeasible("no placement serves every model with demand: " + str(result.message))
    scale = -result.fun
    # Second solve: s held (a hair under its optimum); headroom h[m] <= carried / (s d), h <= cap.
    second = _Program(columns, counts, integral, models, types_per_model)
    h = second.add_variables(len(models), upper=HEADROOM_CAP)
    for i, m in enumerate(models):
        carried = _carried(second, m)
        second.row(carried, demand[m] * scale * (1 - gap), np.inf)
        second.row({**{j: v / (demand[m] * scale) for j, v in carried.items()}, h + i: -1.0}, 0.0, np.inf)
    spread = second.solve({h + i: -1.0 for i in range(len(models))}, gap, time_limit_s)
    x = (spread if spread.x is not None else result).x[: len(columns)]
    return Solution(_counts(x, integral), scale, time.perf_counter() - started, str(spread.message))


def fewest_gpus(
    columns: Sequence[GroupCapacity],
    counts: Mapping[str, int],
    demand: Mapping[str, float],
    integral: bool = True,
    gap: float = 1e-3,
    time_limit_s: float = 60.0,
    types_per_model: int | None = None,
    prefer: Mapping[int, float] | None = None,
) -> Solution:
    started = time.perf_counter()
    models = [m for m, d in demand.items() if d > 0]
    program = _Program(columns, counts, integral, models, types_per_model)
    for m in models:
        program.row(_carried(program, m), demand[m], np.inf)
    preferred = prefer or {}
    types = max(1, len({columns[j].gpu for j in preferred}))
    cost = {j: 1.0 - KEEP_BONUS * preferred.get(j, 0.0) / types for j in range(len(columns))}
    result = program.solve(cost, gap, time_limit_s)
    if result.x is None:
        raise Infeasible("the inventory cannot serve this demand: " + str(result.message))
    x = result.x[: len(columns)]
    return Solution(_counts(x, integral), 1.0, time.perf_counter() - started, str(result.message))


def _counts(x: np.ndarray, integral: bool) -> tuple[int | float, ...]:
    return tuple(int(round(v)) for v in x) if integral else tuple(float(v) for v in x)
