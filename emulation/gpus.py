"""Emulated GPU types, described by their public spec sheets.

Peak compute is dense FP16 tensor-core throughput (inference runs in half precision), memory
bandwidth and L2 are the data-sheet figures, SM count and boost clock as NVIDIA lists them. A
MIG slice is a device of its own with its share of SMs, bandwidth and L2: jobs on different
slices never meet, which is all MIG isolation means to the emulator.

These descriptors are what the fleet is told about its devices (heartbeats, the predictor's
features). How fast a model actually runs on them, and how co-runners slow each other, is the
device model's business (`device_model.py`), which the rest of the fleet never reads.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "emulated:"


@dataclass(frozen=True)
class GpuSpec:
    name: str
    architecture: str
    peak_tflops: float  # dense FP16 tensor
    memory_gbps: float  # DRAM bandwidth, GB/s
    l2_bytes: int
    sm_count: int
    boost_mhz: int
    memory_bytes: int

    def mps_partition(self, percent: int) -> GpuSpec:
        """The device as a job confined to `percent` of its SMs by MPS sees it
        (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE): that share of compute, all of the bandwidth and L2."""
        sms = max(1, round(self.sm_count * percent / 100))
        return GpuSpec(
            f"{self.name}@{percent}%",
            self.architecture,
            self.peak_tflops * sms / self.sm_count,
            self.memory_gbps,
            self.l2_bytes,
            sms,
            self.boost_mhz,
            self.memory_bytes,
        )

    def slice(self, name: str, sms: int, eighths_of_memory: int) -> GpuSpec:
        """A MIG slice: its SMs' share of compute, its memory slices' share of bandwidth and L2."""
        share = eighths_of_memory / 8
        return GpuSpec(
            name,
            self.architecture,
            self.peak_tflops * sms / self.sm_count,
            self.memory_gbps * share,
            int(self.l2_bytes * share),
            sms,
            self.boost_mhz,
            int(self.memory_bytes * share),
        )


_MB, _GB = 1 << 20, 1 << 30
V100 = GpuSpec("V100", "volta", 125.0, 900.0, 6 * _MB, 80, 1530, 16 * _GB)
T4 = GpuSpec("T4", "turing", 65.0, 320.0, 4 * _MB, 40, 1590, 16 * _GB)
A10 = GpuSpec("A10", "ampere", 125.0, 600.0, 6 * _MB, 72, 1695, 24 * _GB)
L4 = GpuSpec("L4", "ada", 121.0, 300.0, 48 * _MB, 58, 2040, 24 * _GB)
A100 = GpuSpec("A100", "ampere", 312.0, 1555.0, 40 * _MB, 108, 1410, 40 * _GB)
H100 = GpuSpec("H100", "hopper", 989.0, 3350.0, 50 * _MB, 132, 1980, 80 * _GB)

GPUS: dict[str, GpuSpec] = {
    g.name: g
    for g in (
        V100,
        T4,
        A10,
        L4,
        A100,
        H100,
        A100.slice("A100-1g", 14, 1),
        A100.slice("A100-3g", 42, 4),
        H100.slice("H100-1g", 16, 1),
        H100.slice("H100-3g", 60, 4),
    )
}


class UnknownGpu(ValueError):
    pass


def gpu(name: str) -> GpuSpec:
    """The spec of `name` ("A100", "A100-1g"), or of a device string "emulated:A100"."""
    key = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    try:
        return GPUS[key]
    except KeyError:
        raise UnknownGpu(f"no emulated GPU {key!r}; known: {', '.join(GPUS)}") from None


def is_emulated(device: str) -> bool:
    return device.startswith(PREFIX)
