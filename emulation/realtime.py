"""An emulated GPU on the wall clock, for workers that run on one (`device: emulated:<type>`).

Each model's execution thread calls `run` with a batch, which occupies the shared device for
the time the device model gives (its solo time with jitter, stretched while co-runners share the
device) and returns when it is done. The threads only sleep: a fleet of emulated GPUs costs
the host no compute, so 8-16 of them fit on two cores beside a real router and Redis.

`time_scale` stretches device time on the wall clock (2.0: every batch takes twice as long),
so a host whose router and network add a millisecond per request can still load GPUs whose
batches take fractions of one, the way the requests' deadlines would be stretched in a
slowed-down replay of the same trace.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from emulation.device_model import DeviceModel
from emulation.gpus import GpuSpec
from emulation.shared_device import SharedDevice
from emulation.workload import Workload


class RealtimeDevice:
    def __init__(
        self,
        gpu: GpuSpec,
        model: DeviceModel,
        time_scale: float = 1.0,
        seed: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if time_scale <= 0:
            raise ValueError(f"time_scale must be positive, not {time_scale!r}")
        self.gpu = gpu
        self.model = model
        self._device: SharedDevice[object] = SharedDevice(gpu, model)
        self._scale = time_scale
        self._clock = clock
        self._origin = clock()
        self._random = random.Random(seed)
        self._changed = threading.Condition()

    def _now(self) -> float:
        """Device seconds since start."""
        return (self._clock() - self._origin) / self._scale

    def solo_s(self, workload: Workload, batch: int) -> float:
        """Wall seconds a batch takes alone, without jitter."""
        return self.model.solo_s(workload, self.gpu, batch) * self._scale

    def run(self, workload: Workload, batch: int) -> frozenset[str]:
        """Occupy the device with one batch until it is done; returns the models beside it."""
        key = object()
        with self._changed:
            work = self.model.solo_s(workload, self.gpu, batch) * self.model.jitter(self._random)
            self._device.start(key, self.model.demand(workload, self.gpu, batch), work, self._now())
            self._changed.notify_all()  # the others' rates changed: they recompute their waits
            while True:
                now = self._now()
                self._device.advance(now)
                left = self._device.finishes_at(key) - now
                if left <= 0:
                    co_runners = self._device.finish(key, now)
                    self._changed.notify_all()
                    return co_runners
                self._changed.wait(left * self._scale)
