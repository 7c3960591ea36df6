"""The planner service's Prometheus metrics, read from its state at scrape time: its moves, the
demand it last planned for, the workers its plan uses and each model's replicas now."""

from __future__ import annotations

import collections
import json
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from interfleet.proto import fleet_pb2


class PlannerState(Protocol):
    states: list[fleet_pb2.WorkerState]
    move_counts: collections.Counter
    planned_for: dict[str, float]
    plan_json: str
    plans: int


class PlannerCollector(Collector):
    def __init__(self, planner: PlannerState):
        self._planner = planner

    def collect(self):
        planner = self._planner
        moves = CounterMetricFamily(
            "interfleet_planner_moves",
            "Model moves the planner made, by action and outcome",
            labels=["action", "outcome"],
        )
        for (action, outcome), n in sorted(planner.move_counts.items()):
            moves.add_metric([action, outcome], n)
        plans = CounterMetricFamily(
            "interfleet_planner_plans", "Re-plans made (demand drifted past the band)"
        )
        plans.add_metric([], planner.plans)
        demand = GaugeMetricFamily(
            "interfleet_planner_planned_demand_rps",
            "Requests/s per model the current plan was made for",
            labels=["model"],
        )
        for model, rate in sorted(planner.planned_for.items()):
            demand.add_metric([model], rate)
        used = GaugeMetricFamily(
            "interfleet_planner_workers_used", "Workers the current plan gives models to"
        )
        used.add_metric([], json.loads(planner.plan_json).get("gpus_used", 0) if planner.plan_json else 0)
        replicas = GaugeMetricFamily(
            "interfleet_planner_replicas", "Ready workers serving each model now", labels=["model"]
        )
        counts = collections.Counter(m.name for s in planner.states if s.ready for m in s.models)
        for model, n in sorted(counts.items()):
            replicas.add_metric([model], n)
        yield from (moves, plans, demand, used, replicas)
