"""The planner: an inventory of GPUs and per-model demand in, a placement out.

    columns = every group of 1..max_group models with demand, on every GPU type of the inventory,
              with its members' capacities there (`capacity.CapacityModel`), the infeasible dropped
    counts  = the placement program over the columns (`milp`: max-scale or fewest-gpus)
    plan    = that many GPUs of each type given each group, in inventory order; the rest host
              nothing (reported, and free for other work)

The LP relaxation of the same program is solved beside it: its scale bounds every placement made
of these columns under this capacity model (the planner's own bound, not the device's).
Columns depend only on the models and GPU types, not on the fleet's size, so they are computed
once per planner and reused for every inventory and demand it is asked about.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from interfleet.devices import DeviceTerms
from planner.capacity import CapacityModel, GroupCapacity
from planner.milp import fewest_gpus, max_scale

OBJECTIVES = ("max-scale", "fewest-gpus")


@dataclass(frozen=True)
class GpuSlot:
    """One GPU of the inventory."""

    gpu_id: str
    gpu_type: str


@dataclass(frozen=True)
class PlannedGpu:
    """A GPU and what the plan puts on it: the models it hosts, each with its batch cap there."""

    gpu_id: str
    gpu_type: str
    models: tuple[str, ...] = ()
    batch_caps: tuple[int, ...] = ()
    partition: str = ""  # a MIG slice type: the GPU is split into `slices` of them, each hosting `models`
    slices: int = 1

    def batch_cap(self, model: str) -> int | None:
        return self.batch_caps[self.models.index(model)] if self.batch_caps else None


@dataclass
class Plan:
    gpus: list[PlannedGpu]  # every GPU of the inventory, in its order; an unused one hosts nothing
    capacity: dict[str, float]  # requests/s each model is predicted to carry
    scale: float  # max-scale: the demand multiple served; fewest-gpus: 1.0
    objective: str
    name: str = "planned"
    solve_s: float = 0.0
    columns: int = 0
    bound_scale: float | None = None  # the LP relaxation's scale (max-scale) or GPUs (fewest-gpus)
    info: dict = field(default_factory=dict)

    @property
    def gpus_used(self) -> int:
        return sum(1 for g in self.gpus if g.models)

    def replicas(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for g in self.gpus:
            for m in g.models:
                counts[m] = counts.get(m, 0) + 1
        return counts


class Planner:
    """Plans placements by the placement program over candidate co-location groups."""

    def __init__(
        self,
        capacity: CapacityModel,
        max_group: int = 3,
        gap: float = 1e-3,
        partitions: Mapping[str, Sequence[tuple[str, int]]] | None = None,
    ):
        """`partitions`: GPU type -> the MIG layouts it may be split into, each (slice type,
        slices): every slice of a split GPU hosts the same group, under MPS within the slice."""
        self.capacity = capacity
        self.max_group = max_group
        self.gap = gap
        self.partitions = dict(partitions or {})
        self._columns: dict[tuple[str, tuple[str, ...], str], GroupCapacity] = {}
        # (GPU type, group, model) -> factor on the capacity model's rate, learnt from trial runs.
        self.corrections: dict[tuple[str, tuple[str, ...], str], float] = {}

    def columns(
        self,
        terms: Mapping[str, DeviceTerms],
        models: Sequence[str],
        sizes: tuple[int, int] | None = None,
        types: set[str] | None = None,
    ) -> list[GroupCapacity]:
        """Every feasible group of `models`, of `sizes` (least, most; default 1 to `max_group`)
        members, on every GPU type of `types` (default: every type of `terms`, which also
        describes the MIG slice types `partitions` names), whole and split."""
        least, most = sizes or (1, self.max_group)
        groups = [
            members
            for size in range(least, min(most, len(models)) + 1)
            for members in itertools.combinations(sorted(models), size)
        ]
        out = []
        for gpu in sorted(g for g in terms if g in types) if types is not None else sorted(terms):
            for members in groups:
                column = self._column(gpu, members, terms, "", 1)
                if column.feasible:
                    out.append(self._corrected(column))
            for partition, slices in self.partitions.get(gpu, ()):
                if partition not in terms:
                    raise ValueError(f"no device description for MIG slice type {partition}")
                for members in groups:
                    column = self._column(gpu, members, terms, partition, slices)
                    if column.feasible:
                        out.append(self._corrected(column))
        return out

    def _column(
        self,
        gpu: str,
        members: tuple[str, ...],
        terms: Mapping[str, DeviceTerms],
        partition: str,
        slices: int,
    ) -> GroupCapacity:
        key = (gpu, members, partition)
        column = self._columns.get(key)
        if column is None:
            if partition:
                one = self.capacity.group(partition, terms[partition], members)
                column = GroupCapacity(
                    gpu, one.models, tuple(r * slices for r in one.rates), one.batches, partition, slices
                )
            else:
                column = self.capacity.group(gpu, terms[gpu], members)
            self._columns[key] = column
        return column

    def _corrected(self, column: GroupCapacity) -> GroupCapacity:
        where = column.partition or column.gpu  # a split GPU's corrections are its slice type's
        factors = [self.corrections.get((where, column.models, m), 1.0) for m in column.models]
        if all(f == 1.0 for f in factors):
            return column
        rates = tuple(r * f for r, f in zip(column.rates, factors))
        return GroupCapacity(
            column.gpu, column.models, rates, column.batches, column.partition, column.slices
        )

    def correct(self, gpu: str, members: Sequence[str], model: str, factor: float) -> None:
        """Scale the capacity of `model` in this group on this GPU type (a MIG slice type for the
        group on a split GPU's slices) by `factor` (cumulative): what a trial run of a plan
        showed the capacity model to overrate."""
        key = (gpu, tuple(sorted(members)), model)
        self.corrections[key] = self.corrections.get(key, 1.0) * factor

    def plan(
        self,
        inventory: Sequence[GpuSlot],
        terms: Mapping[str, DeviceTerms],
        demand: Mapping[str, float],
        objective: str = "max-scale",
        bound: bool = True,
        sizes: tuple[int, int] | None = None,
        types_per_model: int | None = None,
        keep: Mapping[str, frozenset[str]] | None = None,
    ) -> Plan:
        """`sizes`: how many models a used GPU may host (least, most; default 1 to `max_group`);
        `types_per_model`: on how many GPU types each model's replicas may sit (default any);
        `keep` (fewest-gpus, on a live fleet whose every worker is a type of its own): what each
        hosts now, so that among the plans with the fewest GPUs the one closest to it is taken
        (each column weighted by the share of models it has in common with its worker's)."""
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        missing = sorted({s.gpu_type for s in inventory} - set(terms))
        if missing:
            raise ValueError(f"no device description for GPU type(s) {', '.join(missing)}")
        models = sorted(m for m, d in demand.items() if d > 0)
        started = time.perf_counter()
        types = {s.gpu_type for s in inventory}
        columns = self.columns(terms, models, sizes, types)
        columns_s = time.perf_counter() - started
        counts = {g: sum(1 for s in inventory if s.gpu_type == g) for g in types}
        if objective == "max-scale":
            solution = max_scale(columns, counts, demand, gap=self.gap, types_per_model=types_per_model)
        else:
            prefer = {
                j: len(set(c.models) & keep[c.gpu]) / len(set(c.models) | keep[c.gpu])
                for j, c in enumerate(columns)
                if keep and keep.get(c.gpu)
            }
            solution = fewest_gpus(
                columns, counts, demand, gap=self.gap, types_per_model=types_per_model, prefer=prefer
            )
        solve = max_scale if objective == "max-scale" else fewest_gpus
        relaxed = (
            solve(columns, counts, demand, integral=False, gap=self.gap, types_per_model=types_per_model)
            if bound
            else None
        )
        gpus = _assign(inventory, columns, solution.counts)
        capacity = {m: 0.0 for m in models}
        for column, x in zip(columns, solution.counts):
            for m, rate in zip(column.models, column.rates):
                capacity[m] += rate * x
        bound_value = None
        if relaxed is not None:
            bound_value = relaxed.scale if objective == "max-scale" else float(sum(relaxed.counts))
        return Plan(
            gpus,
            {m: round(c, 1) for m, c in capacity.items()},
            solution.scale,
            objective,
            solve_s=time.perf_counter() - started,
            columns=len(columns),
            bound_scale=bound_value,
            info={
                "columns_s": round(columns_s, 3),
                "milp_s": round(solution.solve_s, 3),
                "status": solution.status,
            },
        )


def _assign(
    inventory: Sequence[GpuSlot], columns: Sequence[GroupCapacity], counts: Sequence[int | float]
) -> list[PlannedGpu]:
    """Each type's GPUs, in inventory order, given the groups the solution counts for that type."""
    queue: dict[str, list[GroupCapacity]] = {}
    for column, x in zip(columns, counts):
        queue.setdefault(column.gpu, []).extend([column] * int(x))
    taken = dict.fromkeys(queue, 0)
    out = []
    for slot in inventory:
        pending = queue.get(slot.gpu_type, [])
        if taken.get(slot.gpu_type, 0) < len(pending):
            column = pending[taken[slot.gpu_type]]
            taken[slot.gpu_type] += 1
            out.append(
                PlannedGpu(
                    slot.gpu_id, slot.gpu_type, column.models, column.batches, column.partition, column.slices
                )
            )
        else:
            out.append(PlannedGpu(slot.gpu_id, slot.gpu_type))
    return out
