"""The emulated GPU's physics: how long a batch takes alone, and how co-runners slow it.

This is an emulation, calibrated to published measurements, not a measurement. Nothing outside
`emulation` reads it: workers run on it, the predictor learns from what they report,
and only the evaluations' true-degradation estimator (`true_degradation.py`) looks inside.

Solo latency (a roofline with launch overhead):

    t_compute = FLOPs / (peak x compute_efficiency(arch) x occupancy)
    occupancy = f / (f + FLOPS_TO_HALF_FILL x SMs)      f: FLOPs per kernel
    t_memory  = bytes / bandwidth, the part of the working set that fits in L2 read at L2 speed
    solo      = efficiency(model, device) x (kernels x launch(arch) + max(t_compute, t_memory))

Bytes are FP16 weights plus activations written and read once. efficiency(model, device) is a
hidden lognormal factor per (model, GPU type), drawn from the seed: what a roofline misses about
one model's kernels on one architecture.

Co-location, with the jobs that share the device at each moment:

- time-slicing: each of k jobs runs at 1/k, less a context-switch cost;
- MPS: job j runs slower by

      clock x (1 + s_j x sum_k (L l_j + M m_j m_k + C c_j c_k)) + thrash_j

  where l, m and c are the shares of its time a job spends launching kernels, and of the
  device's memory bandwidth and compute it keeps busy, alone. The launch term is a presence
  term: a co-runner's kernels hold the SMs and the block scheduler whatever they are, so a
  launch-bound job (small batches) suffers from anything beside it; L <= 1, since at worst each
  co-runner serialises the job's launches (it doubles that part of its time). The memory and
  compute terms depend on what runs beside: a bandwidth-heavy job beside another
  bandwidth-heavy one suffers more than beside a compute-bound one. s_j is the model's hidden
  sensitivity (lognormal, from the seed), clock the drop of the SM clock under co-location, and
  thrash_j adds a term for a job whose working set fits in L2 alone but not beside the others';
- MIG: slices are separate devices (`gpus.py`), so jobs on two slices never meet.

Calibration (`tests/unit/test_device_model.py` holds the marginals within 15% and the
dependence within 10-15%; `python -m emulation.calibrate`
prints them, `--fit` refits L, M, C and the sensitivity's spread). The population is the
realistic workload set (`catalog.py`: ResNet-50, BERT-base, ViT-B/16, EfficientNet-B0, YOLOv5s,
a DLRM MLP) at batches 1-16 on a V100, like the published CNNs:
- MPS pair slowdowns: p50 1.31x, p90 1.72x, p99 2.66x (gpu-lets' 3,675 measured pairs);
- how much the co-runner matters, from the same 3,675 pairs joined with their solo latencies
  and DRAM utilisations (gpu-lets' artifact: data/interference.csv, inference.csv,
  mem_util.csv): a memory-heavy job (top third by DRAM utilisation) slows 2.51x more beside a
  memory-heavy co-runner than beside a light one (bottom third), median excess 0.137 against
  0.055; a light job's slowdown hardly depends on its co-runner (0.99x); it rises with the
  co-runner's DRAM use (Spearman +0.16). It also falls steeply with the job's own batch (4.16x
  more excess at batch 1 than at 16), which this model misses (1.13x): reported, not held;
- k copies of a model on one V100 under MPS: 1.79x, 2.52x, 3.33x for k = 2, 3, 4;
- T4 2.86x slower than V100 and L4 1.27x faster (PPipe's profiles), geometric mean;
- SM clock under co-location 1530 -> 1431 MHz (iGniter), the `clock` factor above.
Each batch's duration also carries lognormal jitter (sigma 0.04) and, rarely (0.1%), a spike of
2-4x: what a real device's tail looks like.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from emulation.gpus import GpuSpec
from emulation.workload import Workload

SHARING = ("mps", "time-slicing")
FLOPS_TO_HALF_FILL = 1.0e6  # per SM: a kernel this large per SM keeps half the device busy
L2_SPEEDUP = 4.0  # L2 bandwidth over DRAM bandwidth
CLOCK_UNDER_COLOCATION = 1530 / 1431  # iGniter's V100: boost clock alone, clock beside another job
CONTEXT_SWITCH = 1.03  # time-slicing's cost over an even split
THRASH = 0.6  # added slowdown at a working set twice L2, for a job that fit alone
JITTER_SIGMA = 0.04
SPIKE_PROBABILITY, SPIKE_RANGE = 0.001, (2.0, 4.0)
MODEL_EFFICIENCY_SIGMA = 0.15


@dataclass(frozen=True)
class Interference:
    """The MPS co-location coefficients (L, M, C above) and the spread of the hidden
    sensitivity s: fitted by `python -m emulation.calibrate --fit` to the pair, dependence and
    k-copies figures."""

    launch: float = 0.359  # L: a launch-bound job beside any co-runner; at most 1 (serialised)
    memory: float = 5.012  # M: bandwidth share against bandwidth share
    compute: float = 0.546  # C: compute share against compute share (unpartitioned MPS)
    sensitivity_sigma: float = 0.476  # s = exp(sigma x N(0, 1)), median 1

    def __post_init__(self) -> None:
        if not 0 <= self.launch <= 1:
            raise ValueError("the launch term is at most full serialisation of launches (0 <= L <= 1)")


FITTED = Interference()


@dataclass(frozen=True)
class Architecture:
    launch_us: float  # per kernel: launch, and the gap before the next
    compute_efficiency: float  # share of tensor peak a large kernel reaches
    memory_efficiency: float  # share of DRAM bandwidth a streaming kernel reaches


# Volta's are typical achieved fractions; Turing's and Ada's are fitted to PPipe's T4 / V100 / L4
# ratios over the realistic workload set (the T4, a 70 W card, sustains far below its data sheet
# under load); Ampere and Hopper take values between, as no ratio for them was at hand.
ARCHITECTURES = {
    "volta": Architecture(6.0, 0.45, 0.80),
    "turing": Architecture(7.0, 0.43, 0.30),
    "ampere": Architecture(5.0, 0.45, 0.85),
    "ada": Architecture(4.5, 0.60, 0.97),
    "hopper": Architecture(4.0, 0.45, 0.85),
}


@dataclass(frozen=True)
class Demand:
    """What one running batch asks of its device: the inputs to everyone's slowdown."""

    model: str
    compute: float  # share of the device's compute it keeps busy, alone (0..1)
    memory: float  # share of the DRAM bandwidth, alone (0..1)
    launch: float  # share of its time spent launching kernels (0..1)
    working_set: float  # bytes it wants resident in L2
    sensitivity: float  # how much it suffers from the others' pressure


def _unit(*key: object) -> float:
    """A reproducible standard normal draw from `key`."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big")).gauss(0.0, 1.0)


class DeviceModel:
    def __init__(self, seed: int = 0, sharing: str = "mps", interference: Interference = FITTED):
        if sharing not in SHARING:
            raise ValueError(f"sharing must be one of {', '.join(SHARING)}, not {sharing!r}")
        self.seed = seed
        self.sharing = sharing
        self.interference = interference
        self._cache: dict[tuple, tuple[float, Demand]] = {}

    def efficiency(self, model: str, gpu: GpuSpec) -> float:
        """The hidden per-(model, GPU type) factor a roofline misses."""
        return math.exp(MODEL_EFFICIENCY_SIGMA * _unit(self.seed, "efficiency", model, gpu.name))

    def sensitivity(self, model: str) -> float:
        return math.exp(self.interference.sensitivity_sigma * _unit(self.seed, "sensitivity", model))

    def solo_s(self, workload: Workload, gpu: GpuSpec, batch: int) -> float:
        return self._profile(workload, gpu, batch)[0]

    def demand(self, workload: Workload, gpu: GpuSpec, batch: int) -> Demand:
        return self._profile(workload, gpu, batch)[1]

    def _profile(self, workload: Workload, gpu: GpuSpec, batch: int) -> tuple[float, Demand]:
        key = (workload, gpu.name, batch)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._roofline(workload, gpu, batch)
        return cached

    def _roofline(self, workload: Workload, gpu: GpuSpec, batch: int) -> tuple[float, Demand]:
        arch = ARCHITECTURES[gpu.architecture]
        flops = workload.flops(batch)
        per_kernel = flops / max(1, workload.kernels)
        occupancy = per_kernel / (per_kernel + FLOPS_TO_HALF_FILL * gpu.sm_count)
        t_compute = flops / (gpu.peak_tflops * 1e12 * arch.compute_efficiency * occupancy)
        weights = workload.param_bytes / 2  # FP16
        activations = workload.activation_bytes(batch) / 2
        moved = weights + 2 * activations  # written once, read once
        working_set = weights + activations / max(1, workload.kernels) * 2
        in_l2 = min(1.0, gpu.l2_bytes / max(working_set, 1.0))
        bandwidth = gpu.memory_gbps * 1e9 * arch.memory_efficiency
        t_memory = moved * ((1 - in_l2) / bandwidth + in_l2 / (bandwidth * L2_SPEEDUP))
        t_launch = workload.kernels * arch.launch_us * 1e-6
        busy = max(t_compute, t_memory)
        solo = self.efficiency(workload.model, gpu) * (t_launch + busy)
        share = busy / (t_launch + busy)
        demand = Demand(
            workload.model,
            compute=share * occupancy * t_compute / busy,
            memory=share * t_memory / busy,
            launch=1.0 - share,
            working_set=working_set,
            sensitivity=self.sensitivity(workload.model),
        )
        return solo, demand

    def slowdown(
        self, job: Demand, others: Sequence[Demand], gpu: GpuSpec, partitioned: bool = False
    ) -> float:
        """How much slower `job` runs than alone while `others` share the device with it;
        `partitioned`: MPS gives each job its own SMs, so their compute never meets."""
        if not others:
            return 1.0
        if self.sharing == "time-slicing":
            return (1 + len(others)) * CONTEXT_SWITCH
        k = self.interference
        overlap = sum(
            k.launch * job.launch
            + k.memory * job.memory * o.memory
            + (0.0 if partitioned else k.compute * job.compute * o.compute)
            for o in others
        )
        slowdown = CLOCK_UNDER_COLOCATION * (1.0 + job.sensitivity * overlap)
        if job.working_set <= gpu.l2_bytes:
            total = job.working_set + sum(o.working_set for o in others)
            if total > gpu.l2_bytes:
                slowdown += THRASH * min(1.0, (total - gpu.l2_bytes) / gpu.l2_bytes) * job.memory
        return slowdown

    @staticmethod
    def jitter(rng: random.Random) -> float:
        """A batch's duration factor: lognormal noise, and now and then a spike."""
        factor = math.exp(rng.gauss(0.0, JITTER_SIGMA))
        if rng.random() < SPIKE_PROBABILITY:
            factor *= rng.uniform(*SPIKE_RANGE)
        return factor
