"""What a worker runs on: execution providers, CPU pinning, and the description it reports.

CPU workers are pinned to their CPU set before any session or thread exists, so every thread
ONNX Runtime creates inherits the affinity. GPU workers use CUDAExecutionProvider and describe
the device through NVML. Workers on an emulated GPU (`emulated:<type>`) run no model at all:
their sessions spend each batch's time on the emulated device (`emulation`) and
they describe it by its spec sheet, marked emulated.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Callable
from pathlib import Path

import onnxruntime as ort

from emulation.device_model import DeviceModel
from emulation.gpus import gpu, is_emulated
from emulation.heartbeat import device_info
from emulation.realtime import RealtimeDevice
from emulation.session import EmulatedSession
from emulation.workload import workload_of
from interfleet.cpu_caches import cache_bytes
from interfleet.errors import ConfigError
from interfleet.proto import fleet_pb2
from interfleet.repository import ModelSpec
from services.worker.config import WorkerConfig
from services.worker.loaded_model import LoadedModel

log = logging.getLogger(__name__)


class DeviceError(ConfigError):
    """The configured device cannot be used on this host (a configuration error: one line, and the worker stops)."""


def pin_cpus(cpus: tuple[int, ...]) -> None:
    """Restrict this process (and the threads it creates later) to `cpus`."""
    if not cpus:
        return
    available = os.sched_getaffinity(0)
    missing = sorted(set(cpus) - available)
    if missing:
        raise DeviceError(
            f"CPU set {list(cpus)} names cores this host does not offer: {missing} "
            f"(available: {sorted(available)})"
        )
    os.sched_setaffinity(0, cpus)


def execution_providers(config: WorkerConfig) -> list:
    """ONNX Runtime providers for the device: CUDA (with CPU fallback for unsupported ops) or CPU."""
    if config.gpu_index is None:
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise DeviceError(
            f"device {config.device} needs onnxruntime-gpu (install interfleet[gpu]); "
            f"this onnxruntime offers {ort.get_available_providers()}"
        )
    return [("CUDAExecutionProvider", {"device_id": config.gpu_index}), "CPUExecutionProvider"]


def session_options(config: WorkerConfig) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = config.threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning intra-op threads keep cores busy between runs; on shared cores that is interference
    # we would be causing ourselves, so it is off unless asked for.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.allow_spinning else "0")
    return options


def model_loader(config: WorkerConfig) -> Callable[[ModelSpec], LoadedModel]:
    """How this worker loads a model: into ONNX Runtime, or onto its emulated GPU (one per worker,
    shared by all its models)."""
    if not is_emulated(config.device):
        providers, options = execution_providers(config), session_options(config)
        return lambda spec: LoadedModel.load(spec, providers, options)
    emulated = RealtimeDevice(
        gpu(config.device),
        DeviceModel(config.emulation_seed, config.emulation_sharing),
        config.emulation_time_scale,
        seed=zlib.crc32(config.worker_id.encode()),
    )
    repository = Path(config.model_repository)
    return lambda spec: LoadedModel.of_session(
        spec, EmulatedSession(spec.path, workload_of(repository, spec.name), emulated)
    )


def describe(config: WorkerConfig) -> fleet_pb2.DeviceInfo:
    if is_emulated(config.device):
        return device_info(gpu(config.device))
    if config.gpu_index is not None:
        return fleet_pb2.DeviceInfo(name=config.device, gpu=describe_gpu(config.gpu_index))
    return fleet_pb2.DeviceInfo(name="cpu", cpu=describe_cpu(config))


def describe_cpu(config: WorkerConfig) -> fleet_pb2.CpuInfo:
    cpu_set = sorted(config.cpus) if config.cpus else sorted(os.sched_getaffinity(0))
    info = fleet_pb2.CpuInfo(cpu_set=cpu_set, threads=config.threads, logical_cores=os.cpu_count() or 0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info.model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info.l2_cache_bytes, info.l3_cache_bytes = cache_bytes()
    return info


def describe_gpu(index: int) -> fleet_pb2.GpuInfo:
    """The GPU as NVML sees it; raises DeviceError when NVML cannot reach it."""
    import pynvml  # nvidia-ml-py: imported here so CPU-only hosts never load libnvidia-ml

    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        info = fleet_pb2.GpuInfo(
            model=name.decode() if isinstance(name, bytes) else name,
            index=index,
            memory_total_bytes=memory.total,
            memory_used_bytes=memory.used,
            sm_clock_mhz=pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM),
            memory_clock_mhz=pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_MEM),
            utilization=utilization.gpu / 100.0,
        )
        try:  # documented for MIG slices; whole GPUs answer on recent drivers, older ones do not
            info.sm_count = pynvml.nvmlDeviceGetAttributes_v2(handle).multiprocessorCount
        except (pynvml.NVMLError, AttributeError):
            pass
        return info
    except pynvml.NVMLError as exc:
        raise DeviceError(f"NVML cannot describe GPU {index}: {exc}") from exc
