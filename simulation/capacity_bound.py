"""An upper bound on a fleet's max load: what its model queues could serve with no interference.

On the emulated fleet each worker runs one batch of a model at a time, and a batch of b items
takes at least its solo time on that GPU (co-runners only slow it; the jitter averages above
1). So model m on GPU g serves at most

    cap(m, g) = max over b of  b / solo(m, g, b),   b <= max_batch_size, 0.8 solo(b) + hop <= SLO

requests per second within its SLO (0.8: room for the jitter's rare fast batch). The linear
program "largest scale s such that every model's share s x mix(m) is carried by the GPUs that
host it, each within cap" separates by model, so its solution is closed-form:

    s* = min over m of  (sum over g hosting m of cap(m, g)) / mix(m),

and a load at which 99% of requests meet their SLO is at most s* / 0.99. A bound, not a
target: it ignores every co-location slowdown and every queueing delay.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence

from emulation.device_model import DeviceModel
from emulation.gpus import GPUS
from emulation.workload import Workload
from simulation.fleet_spec import GpuWorker
from simulation.worker import ModelSettings

JITTER_FLOOR = 0.8


def model_capacity(
    device: DeviceModel, workload: Workload, gpu: str, settings: ModelSettings, hop_ms: float
) -> float:
    """cap(m, g): requests per second one queue of this model can serve within its SLO."""
    best = 0.0
    for batch in range(1, settings.max_batch_size + 1):
        solo_ms = device.solo_s(workload, GPUS[gpu], batch) * 1e3
        if JITTER_FLOOR * solo_ms + hop_ms <= settings.slo_ms:
            best = max(best, batch / solo_ms * 1e3)
    return best


def capacity_bound(
    fleet: Sequence[GpuWorker],
    mix: Mapping[str, float],
    device: DeviceModel,
    workloads: Mapping[str, Workload],
    settings: Mapping[str, ModelSettings],
    hop_ms: float,
    attainment: float = 0.99,
) -> float:
    """The bound on the total request rate (requests/s) served at `attainment`."""
    hosts = collections.Counter((m, w.gpu) for w in fleet for m in w.models if m in mix)
    carried = dict.fromkeys(mix, 0.0)
    for (m, gpu), count in hosts.items():  # once per model and GPU type, however large the fleet
        carried[m] += count * model_capacity(device, workloads[m], gpu, settings[m], hop_ms)
    return min(carried[m] / share for m, share in mix.items() if share > 0) / attainment
