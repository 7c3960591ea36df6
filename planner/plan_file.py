"""Plans as JSON files: what `interfleet plan` writes and `interfleet simulate --placement` reads.

{"objective": "max-scale", "scale": 1234.5, "capacity": {"resnet50": 310.2, ...},
 "gpus": [{"gpu_id": "t4-0", "gpu_type": "T4", "models": ["resnet50"], "batch_caps": [8]}, ...]}
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from planner.planner import Plan, PlannedGpu


def to_json(plan: Plan) -> dict:
    return {
        "name": plan.name,
        "objective": plan.objective,
        "scale": plan.scale,
        "bound_scale": plan.bound_scale,
        "gpus_used": plan.gpus_used,
        "solve_s": round(plan.solve_s, 3),
        "columns": plan.columns,
        "capacity": plan.capacity,
        "replicas": plan.replicas(),
        "info": plan.info,
        "gpus": [
            {**asdict(g), "models": list(g.models), "batch_caps": list(g.batch_caps)} for g in plan.gpus
        ],
    }


def write_plan(plan: Plan, path: Path) -> None:
    Path(path).write_text(json.dumps(to_json(plan), indent=1) + "\n")


def read_plan(path: Path) -> Plan:
    """A plan file; raises ValueError naming what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text())
        gpus = [
            PlannedGpu(
                str(g["gpu_id"]),
                str(g["gpu_type"]),
                tuple(str(m) for m in g.get("models", ())),
                tuple(int(b) for b in g.get("batch_caps", ())),
                str(g.get("partition", "")),
                int(g.get("slices", 1)),
            )
            for g in data["gpus"]
        ]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a plan file: {exc}") from exc
    for g in gpus:
        if g.batch_caps and len(g.batch_caps) != len(g.models):
            raise ValueError(
                f"{path}: GPU {g.gpu_id} has {len(g.models)} models but {len(g.batch_caps)} batch caps"
            )
    return Plan(
        gpus,
        {str(m): float(c) for m, c in data.get("capacity", {}).items()},
        float(data.get("scale", 0.0)),
        str(data.get("objective", "max-scale")),
        name=str(data.get("name", Path(path).stem)),
    )
