"""One simulated fleet, its policies, and runs of a trace through it.

`Setup` gathers what every run of an evaluation shares: the fleet (`mixed_fleet`), the models'
workloads and GPU SLOs, the device model (one seed: the hidden per-model factors), and the
degradation predictor, trained on the emulated profile of the fleet's GPU types
(`predictor.emulated_profile`: every model solo and beside sampled co-runner sets, from its own
seed, with a quarter of the (target, co-runner) combinations held out for scoring). It never
reads the device model's parameters; only `TrueDegradation` does, and the profiler plays the
device.

Workloads: the zoo's models from the repository, or the realistic set (`emulation.catalog`:
ResNet-50, BERT-base, ViT-B/16, EfficientNet-B0, YOLOv5s, a DLRM MLP, by their graph statistics),
`Setup.make(..., workload_set="realistic")`.

SLOs: a model's SLO is `SLO_FACTORS[set]` times its batch-1 latency alone on a T4, the slowest whole
GPU of the mix, so every GPU type can serve every model within it when not overloaded: 3x for
the zoo (sub-millisecond models), 5x for the realistic set (PPipe's SLO, the field's regime).
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emulation.catalog import MAX_BATCH_SIZE as CATALOG_MAX_BATCH
from emulation.catalog import REALISTIC
from emulation.catalog import graph_features as catalog_graph
from emulation.device_model import DeviceModel
from emulation.gpus import GPUS, GpuSpec, gpu
from emulation.true_degradation import TrueDegradation
from emulation.workload import Workload, repository_workloads
from interfleet.proto import fleet_pb2
from interfleet.repository import load_spec
from loadgen.arrivals import ArrivalSpec
from loadgen.schedule import Schedule, build_schedule
from predictor.device_score import score_against_device
from predictor.emulated_profile import (
    BATCHES,
    CO_BATCHES,
    PLANNING_BATCHES,
    PLANNING_CO_BATCHES,
    held_out,
    profile_emulated,
)
from predictor.evaluate import Prepared, fit
from predictor.features import FeatureBuilder
from predictor.model import DegradationModel
from predictor.scoring import CandidateScorer
from router.policies import RoutingPolicy, make_policy
from simulation.engine import Simulation
from simulation.fleet_spec import GpuWorker
from simulation.outcomes import Outcomes
from simulation.worker import ModelSettings

BALANCED = {"objective": "balanced", "headroom": 0.8}
# Variant name -> (policy, its arguments). "true degradation" is interference-aware fed the
# emulated device model's expected degradation instead of the predictor's (`TRUE_DEGRADATION`),
# with each objective: what a perfect predictor would give this greedy policy, not a bound.
VARIANTS: dict[str, tuple[str, dict]] = {
    "round-robin": ("round-robin", {}),
    "least-loaded": ("least-loaded", {}),
    "power-of-two": ("power-of-two", {}),
    "speed-aware": ("speed-aware", {}),
    "speed-aware (d=2)": ("speed-aware", {"sample": 2}),
    "interference-aware": ("interference-aware", {}),
    "interference-aware (balanced)": ("interference-aware", BALANCED),
    "interference-aware (true degradation)": ("interference-aware", {}),
    "interference-aware (balanced, true degradation)": ("interference-aware", BALANCED),
}
TRUE_DEGRADATION = frozenset(
    {"interference-aware (true degradation)", "interference-aware (balanced, true degradation)"}
)
POLICIES = tuple(VARIANTS)
# What the evaluations compare: the load-only baselines at their best (speed-aware also over d=2
# samples) and interference-aware with each objective, on the predictor and on the truth.
EVALUATED = (
    "least-loaded",
    "power-of-two",
    "speed-aware (d=2)",
    "speed-aware",
    "interference-aware",
    "interference-aware (balanced)",
    "interference-aware (true degradation)",
    "interference-aware (balanced, true degradation)",
)
DEFAULT_MIX = {"mobilenet": 3, "transformer": 3, "resnet10": 2, "resnet18": 1, "mlp": 2, "tiny_cnn": 2}
REALISTIC_MIX = {
    "resnet50": 3,
    "bert_base": 2,
    "vit_b16": 1,
    "efficientnet_b0": 2,
    "yolov5s": 1,
    "rec_mlp": 3,
}
SLO_FACTORS = {"zoo": 3.0, "realistic": 5.0}


@dataclass
class Setup:
    repository: Path
    fleet: list[GpuWorker]
    mix: dict[str, float]
    device: DeviceModel
    workloads: dict[str, Workload]
    settings: dict[str, ModelSettings]
    predictor: DegradationModel | None = None
    training_rows: int = 0
    co_located_share: float = 0.0
    heartbeat_s: float = 0.5
    hop_ms: float = 0.1
    max_candidates: int = 0
    last_outcomes: Outcomes | None = field(default=None, repr=False)  # the latest run's, per request
    _features: FeatureBuilder | None = field(default=None, repr=False)

    @classmethod
    def make(
        cls,
        repository: Path,
        fleet: list[GpuWorker],
        mix: Mapping[str, float] | None = None,
        seed: int = 0,
        workload_set: str = "zoo",
        sharing: str = "mps",
        **kwargs,
    ) -> Setup:
        """`sharing`: how co-located models share each emulated GPU (`emulation.device_model`:
        "mps", or "time-slicing", each of k busy jobs at 1/k less a context switch)."""
        realistic = workload_set == "realistic"
        weights: dict[str, float] = dict(mix or (REALISTIC_MIX if realistic else DEFAULT_MIX))
        total = sum(weights.values())
        models = sorted(weights)
        workloads = (
            {m: REALISTIC[m] for m in models} if realistic else repository_workloads(Path(repository), models)
        )
        device = DeviceModel(seed, sharing)
        settings = {}
        for m in models:
            max_batch = CATALOG_MAX_BATCH if realistic else load_spec(Path(repository), m).max_batch_size
            slo_ms = round(SLO_FACTORS[workload_set] * device.solo_s(workloads[m], gpu("T4"), 1) * 1e3, 2)
            settings[m] = ModelSettings(slo_ms, max_batch)
        return cls(
            Path(repository),
            fleet,
            {m: w / total for m, w in weights.items()},
            device,
            workloads,
            settings,
            **kwargs,
        )

    @property
    def features(self) -> FeatureBuilder:
        if self._features is None:
            self._features = FeatureBuilder(self.repository, catalog_graph)
        return self._features

    def fastest_solo_ms(self) -> dict[str, float]:
        """Each model's batch-1 latency alone on the fastest GPU of the fleet that hosts it."""
        best: dict[str, float] = {}
        for worker in self.fleet:
            for m in worker.models:
                ms = self.device.solo_s(self.workloads[m], GPUS[worker.gpu], 1) * 1e3
                best[m] = min(best.get(m, ms), ms)
        return best

    def schedule(self, rate: float, duration_s: float, seed: int) -> Schedule:
        return build_schedule(
            ArrivalSpec.parse(f"poisson:rate={rate}"),
            self.mix,
            lambda m: self.settings[m].slo_ms,
            duration_s,
            seed,
        )

    def policy(self, variant: str, seed: int = 0) -> RoutingPolicy:
        name, args = VARIANTS[variant]
        if variant in TRUE_DEGRADATION:
            return make_policy(
                name, {"seed": seed, **args}, estimator=TrueDegradation(self.device, self.workloads)
            )
        if name == "interference-aware":
            if self.predictor is None:
                raise ValueError("interference-aware needs a trained predictor: call train_predictor first")
            scorer = CandidateScorer(self.predictor, self.features)
            return make_policy(name, {"seed": seed, **args}, estimator=scorer.degradation)
        return make_policy(name, {**args, **({} if name == "round-robin" else {"seed": seed})})

    def simulation(self, policy: RoutingPolicy, seed: int) -> Simulation:
        return Simulation(
            self.fleet,
            policy,
            self.device,
            self.workloads,
            self.settings,
            seed=seed,
            heartbeat_s=self.heartbeat_s,
            hop_ms=self.hop_ms,
            max_candidates=self.max_candidates,
        )

    def run(
        self, policy: str, rate: float, duration_s: float, seed: int, warmup_s: float | None = None
    ) -> dict:
        """One run at `rate` (Poisson); the first `warmup_s` (default a tenth) is not counted."""
        result = self.run_schedule(
            policy,
            self.schedule(rate, duration_s, seed),
            seed,
            duration_s / 10 if warmup_s is None else warmup_s,
        )
        return {**result, "rate_rps": rate}

    def run_schedule(self, policy: str, schedule: Schedule, seed: int, warmup_s: float = 0.0) -> dict:
        simulation = self.simulation(self.policy(policy, seed), seed)
        execution: list[float] = []  # each batch's device time over its solo time on that GPU type
        gpu_of_worker = {w.worker_id: GPUS[w.gpu] for w in self.fleet}

        def on_batch(record: fleet_pb2.BatchRecord) -> None:
            if record.started_at >= warmup_s:
                solo = self.device.solo_s(
                    self.workloads[record.model], gpu_of_worker[record.worker_id], record.batch_size
                )
                execution.append(record.compute_ms / (solo * 1e3))

        simulation.on_batch = on_batch
        outcomes = simulation.run(schedule)
        self.last_outcomes = outcomes
        best = {m: ms + self.hop_ms for m, ms in self.fastest_solo_ms().items()}
        summary = outcomes.summary(best, warmup_s=warmup_s)
        gpu_of = {w.worker_id: w.gpu for w in self.fleet}
        served = collections.Counter(gpu_of[w] for w in outcomes.worker if w)
        total = sum(served.values()) or 1
        return {
            "policy": policy,
            "seed": seed,
            **summary,
            "events": simulation.events,
            "served_by_gpu": {g: round(n / total, 4) for g, n in sorted(served.items())},
            # Jitter included (mean about 1.0), so a device alone reads about 1.
            "mean_execution_slowdown": round(float(sum(execution) / len(execution)), 4)
            if execution
            else None,
            "wall_s": round(simulation.wall_s, 3),
            "simulated_requests_per_wall_s": round(len(outcomes.schedule) / max(simulation.wall_s, 1e-9)),
        }

    def train_predictor(
        self, seed: int = 1000, planning: bool = False, extra_gpus: Sequence[GpuSpec] = ()
    ) -> dict:
        """Fit the degradation model on the emulated profile of the fleet's GPU types (profile
        seed `seed`, disjoint from any run's), leaving the held-out combinations out; returns
        its score against the device's true degradation on those (`device_score`). `planning`:
        profile the batch sizes a planner asks about too (`PLANNING_BATCHES`, up to 32);
        `extra_gpus`: more types to profile (MIG slices a planner may split GPUs into)."""
        batches, co_batches = (PLANNING_BATCHES, PLANNING_CO_BATCHES) if planning else (BATCHES, CO_BATCHES)
        gpus = [*self.gpu_types(), *extra_gpus]
        rows = self.profile_rows(seed, batches, co_batches, gpus)
        self.training_rows = len(rows)
        self.co_located_share = sum(1 for r in rows if r["co_runners"]) / len(rows)
        self.predictor = self.fit_predictor(rows)
        test = profile_emulated(
            self.device,
            self.workloads,
            gpus,
            seed + 1,
            keep=held_out,
            batches=batches,
            co_batches=co_batches,
        )
        return score_against_device(
            self.predictor, self.features, TrueDegradation(self.device, self.workloads), test
        )

    def gpu_types(self) -> list[GpuSpec]:
        """The GPU types of the fleet, each once."""
        return sorted({GPUS[w.gpu] for w in self.fleet}, key=lambda g: g.name)

    def profile_rows(
        self,
        seed: int = 1000,
        batches: Sequence[int] = BATCHES,
        co_batches: Sequence[int] = CO_BATCHES,
        gpus: Sequence[GpuSpec] | None = None,
    ) -> list[dict]:
        """The emulated profile of `gpus` (default the fleet's GPU types; targets at `batches`,
        co-runners at `co_batches`), held-out combinations left out."""
        return profile_emulated(
            self.device,
            self.workloads,
            self.gpu_types() if gpus is None else gpus,
            seed,
            keep=lambda t, co: not held_out(t, co),
            batches=batches,
            co_batches=co_batches,
        )

    def fit_predictor(self, rows: list[dict], time_scale: float = 1.0) -> DegradationModel:
        """The degradation model fitted on `rows`, with their latencies as a fleet whose emulated
        devices run `time_scale` times slower on the wall clock reports them (solo latency is a
        feature)."""
        scaled = [
            {
                **row,
                **{key: row[key] * time_scale for key in ("solo_ms", "mean_ms", "p95_ms")},
                "samples_ms": [ms * time_scale for ms in row["samples_ms"]],
            }
            for row in rows
        ]
        return fit(
            Prepared(scaled, self.features),
            scaled,
            info={"trained_on": "emulated profile", "rows": len(scaled)},
        )


def load_levels(reference_rps: float, shares: Sequence[float] = (0.5, 0.8, 0.95)) -> list[float]:
    return [round(reference_rps * s, 1) for s in shares]


def knee(
    setup: Setup,
    policy: str,
    start: float,
    duration_s: float,
    seed: int,
    attainment: float = 0.99,
    resolution: float = 0.02,
) -> tuple[float, list[dict]]:
    """The policy's own max load: from `start`, steps of 1.5x up (or down) until one rate meets
    `attainment` and the next does not, then bisection until the bracket is within `resolution`
    of its low end; the highest rate met, and every run made (the attainment-load curve)."""
    runs: list[dict] = []

    def meets(rate: float) -> bool:
        result = setup.run(policy, rate, duration_s, seed)
        runs.append(result)
        return result["slo_attainment"] >= attainment

    if meets(start):
        low, high = start, start * 1.5
        while meets(high):
            low, high = high, high * 1.5
    else:
        low, high = start / 1.5, start
        while not meets(low):
            if low < 1.0:
                return 0.0, runs
            low, high = low / 1.5, low
    while (high - low) / low > resolution:
        middle = (low + high) / 2
        if meets(middle):
            low = middle
        else:
            high = middle
    return low, runs
