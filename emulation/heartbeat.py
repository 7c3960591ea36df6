"""An emulated GPU as a worker's heartbeat describes it: by its spec sheet, marked emulated.

The live worker on an emulated GPU and the simulator's workers publish the same description,
so the router and the predictor see an emulated device the same way in both.
"""

from __future__ import annotations

from emulation.gpus import PREFIX, GpuSpec
from interfleet.proto import fleet_pb2


def device_info(spec: GpuSpec) -> fleet_pb2.DeviceInfo:
    return fleet_pb2.DeviceInfo(
        name=f"{PREFIX}{spec.name}",
        gpu=fleet_pb2.GpuInfo(
            model=f"{spec.name} (emulated)",
            memory_total_bytes=spec.memory_bytes,
            sm_count=spec.sm_count,
            sm_clock_mhz=spec.boost_mhz,
            peak_tflops=spec.peak_tflops,
            memory_gbps=spec.memory_gbps,
            l2_cache_bytes=spec.l2_bytes,
            emulated=True,
        ),
    )
