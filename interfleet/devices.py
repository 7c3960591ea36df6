"""A worker's device in the predictor's terms, and the placement of a model on it.

The one mapping from a heartbeat's `DeviceInfo` to the descriptors a `Placement` carries: the
router builds the placements it asks predictions for with it, and the predictor builds its
online training rows with it, so a model is trained on exactly what it is later asked about.

CPU workers are described by their core set, threads and caches; GPUs (real or emulated) by
SM count, L2, and their spec-sheet compute and bandwidth (0 where unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from interfleet.placement import CoRunner, Placement
from interfleet.proto import fleet_pb2


def is_gpu(device: fleet_pb2.DeviceInfo) -> bool:
    return device.name.startswith(("cuda", "emulated:"))


@dataclass(frozen=True)
class DeviceTerms:
    cores: int
    threads: int
    l2_bytes: int
    l3_bytes: int
    peak_tflops: float = 0.0
    memory_gbps: float = 0.0

    def placement(
        self,
        target: str,
        batch: int,
        solo_ms: float,
        co_runners: Sequence[CoRunner],
        stress: str = "",
        stress_intensity: float = 0.0,
    ) -> Placement:
        return Placement(
            target=target,
            batch=batch,
            solo_ms=solo_ms,
            co_runners=tuple(co_runners),
            cores=self.cores,
            threads=self.threads,
            l2_bytes=self.l2_bytes,
            l3_bytes=self.l3_bytes,
            peak_tflops=self.peak_tflops,
            memory_gbps=self.memory_gbps,
            stress=stress,
            stress_intensity=stress_intensity,
        )


def device_terms(device: fleet_pb2.DeviceInfo) -> DeviceTerms:
    if is_gpu(device):
        gpu = device.gpu
        return DeviceTerms(
            cores=max(1, gpu.sm_count),
            threads=1,
            l2_bytes=gpu.l2_cache_bytes,
            l3_bytes=0,
            peak_tflops=gpu.peak_tflops,
            memory_gbps=gpu.memory_gbps,
        )
    cpu = device.cpu
    return DeviceTerms(
        cores=len(cpu.cpu_set) or max(1, cpu.logical_cores),
        threads=max(1, cpu.threads),
        l2_bytes=cpu.l2_cache_bytes,
        l3_bytes=cpu.l3_cache_bytes,
    )
