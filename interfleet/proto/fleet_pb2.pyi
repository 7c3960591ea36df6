from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeviceInfo(_message.Message):
    __slots__ = ("name", "cpu", "gpu")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CPU_FIELD_NUMBER: _ClassVar[int]
    GPU_FIELD_NUMBER: _ClassVar[int]
    name: str
    cpu: CpuInfo
    gpu: GpuInfo
    def __init__(self, name: _Optional[str] = ..., cpu: _Optional[_Union[CpuInfo, _Mapping]] = ..., gpu: _Optional[_Union[GpuInfo, _Mapping]] = ...) -> None: ...

class CpuInfo(_message.Message):
    __slots__ = ("model", "cpu_set", "threads", "logical_cores", "l2_cache_bytes", "l3_cache_bytes")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CPU_SET_FIELD_NUMBER: _ClassVar[int]
    THREADS_FIELD_NUMBER: _ClassVar[int]
    LOGICAL_CORES_FIELD_NUMBER: _ClassVar[int]
    L2_CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    L3_CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    model: str
    cpu_set: _containers.RepeatedScalarFieldContainer[int]
    threads: int
    logical_cores: int
    l2_cache_bytes: int
    l3_cache_bytes: int
    def __init__(self, model: _Optional[str] = ..., cpu_set: _Optional[_Iterable[int]] = ..., threads: _Optional[int] = ..., logical_cores: _Optional[int] = ..., l2_cache_bytes: _Optional[int] = ..., l3_cache_bytes: _Optional[int] = ...) -> None: ...

class GpuInfo(_message.Message):
    __slots__ = ("model", "index", "memory_total_bytes", "sm_count", "sm_clock_mhz", "memory_clock_mhz", "utilization", "memory_used_bytes", "peak_tflops", "memory_gbps", "l2_cache_bytes", "emulated")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    SM_COUNT_FIELD_NUMBER: _ClassVar[int]
    SM_CLOCK_MHZ_FIELD_NUMBER: _ClassVar[int]
    MEMORY_CLOCK_MHZ_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    PEAK_TFLOPS_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GBPS_FIELD_NUMBER: _ClassVar[int]
    L2_CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    EMULATED_FIELD_NUMBER: _ClassVar[int]
    model: str
    index: int
    memory_total_bytes: int
    sm_count: int
    sm_clock_mhz: int
    memory_clock_mhz: int
    utilization: float
    memory_used_bytes: int
    peak_tflops: float
    memory_gbps: float
    l2_cache_bytes: int
    emulated: bool
    def __init__(self, model: _Optional[str] = ..., index: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ..., sm_count: _Optional[int] = ..., sm_clock_mhz: _Optional[int] = ..., memory_clock_mhz: _Optional[int] = ..., utilization: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., peak_tflops: _Optional[float] = ..., memory_gbps: _Optional[float] = ..., l2_cache_bytes: _Optional[int] = ..., emulated: bool = ...) -> None: ...

class TensorSpec(_message.Message):
    __slots__ = ("name", "datatype", "shape", "format", "label_filename")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATATYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FILENAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    datatype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    format: str
    label_filename: str
    def __init__(self, name: _Optional[str] = ..., datatype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ..., format: _Optional[str] = ..., label_filename: _Optional[str] = ...) -> None: ...

class HostedModel(_message.Message):
    __slots__ = ("name", "version", "platform", "max_batch_size", "slo_ms", "inputs", "outputs", "flops_per_sample", "parameter_count", "solo_latency_ms", "full_batch_latency_ms", "sequence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    SLO_MS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    FLOPS_PER_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    PARAMETER_COUNT_FIELD_NUMBER: _ClassVar[int]
    SOLO_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    FULL_BATCH_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    platform: str
    max_batch_size: int
    slo_ms: float
    inputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorSpec]
    flops_per_sample: int
    parameter_count: int
    solo_latency_ms: float
    full_batch_latency_ms: float
    sequence: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., platform: _Optional[str] = ..., max_batch_size: _Optional[int] = ..., slo_ms: _Optional[float] = ..., inputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorSpec, _Mapping]]] = ..., flops_per_sample: _Optional[int] = ..., parameter_count: _Optional[int] = ..., solo_latency_ms: _Optional[float] = ..., full_batch_latency_ms: _Optional[float] = ..., sequence: bool = ...) -> None: ...

class ModelLoad(_message.Message):
    __slots__ = ("model", "queue_depth", "in_flight", "p50_latency_ms", "p99_latency_ms", "throughput_rps", "busy_fraction", "offered_rps")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    P50_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    P99_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    THROUGHPUT_RPS_FIELD_NUMBER: _ClassVar[int]
    BUSY_FRACTION_FIELD_NUMBER: _ClassVar[int]
    OFFERED_RPS_FIELD_NUMBER: _ClassVar[int]
    model: str
    queue_depth: int
    in_flight: int
    p50_latency_ms: float
    p99_latency_ms: float
    throughput_rps: float
    busy_fraction: float
    offered_rps: float
    def __init__(self, model: _Optional[str] = ..., queue_depth: _Optional[int] = ..., in_flight: _Optional[int] = ..., p50_latency_ms: _Optional[float] = ..., p99_latency_ms: _Optional[float] = ..., throughput_rps: _Optional[float] = ..., busy_fraction: _Optional[float] = ..., offered_rps: _Optional[float] = ...) -> None: ...

class WorkerState(_message.Message):
    __slots__ = ("worker_id", "address", "device", "models", "load", "started_at", "heartbeat_at", "ready", "metrics_address", "sequence", "unavailable", "transitions", "frames_address")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    LOAD_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    address: str
    device: DeviceInfo
    models: _containers.RepeatedCompositeFieldContainer[HostedModel]
    load: _containers.RepeatedCompositeFieldContainer[ModelLoad]
    started_at: float
    heartbeat_at: float
    ready: bool
    metrics_address: str
    sequence: int
    unavailable: _containers.RepeatedCompositeFieldContainer[UnavailableModel]
    transitions: _containers.RepeatedCompositeFieldContainer[ModelTransition]
    frames_address: str
    def __init__(self, worker_id: _Optional[str] = ..., address: _Optional[str] = ..., device: _Optional[_Union[DeviceInfo, _Mapping]] = ..., models: _Optional[_Iterable[_Union[HostedModel, _Mapping]]] = ..., load: _Optional[_Iterable[_Union[ModelLoad, _Mapping]]] = ..., started_at: _Optional[float] = ..., heartbeat_at: _Optional[float] = ..., ready: bool = ..., metrics_address: _Optional[str] = ..., sequence: _Optional[int] = ..., unavailable: _Optional[_Iterable[_Union[UnavailableModel, _Mapping]]] = ..., transitions: _Optional[_Iterable[_Union[ModelTransition, _Mapping]]] = ..., frames_address: _Optional[str] = ...) -> None: ...

class ModelTransition(_message.Message):
    __slots__ = ("name", "state", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class UnavailableModel(_message.Message):
    __slots__ = ("name", "version", "reason")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    reason: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class BatchRecord(_message.Message):
    __slots__ = ("worker_id", "model", "batch_size", "started_at", "queue_ms", "compute_ms", "co_runners", "device")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_MS_FIELD_NUMBER: _ClassVar[int]
    CO_RUNNERS_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    model: str
    batch_size: int
    started_at: float
    queue_ms: float
    compute_ms: float
    co_runners: _containers.RepeatedScalarFieldContainer[str]
    device: str
    def __init__(self, worker_id: _Optional[str] = ..., model: _Optional[str] = ..., batch_size: _Optional[int] = ..., started_at: _Optional[float] = ..., queue_ms: _Optional[float] = ..., compute_ms: _Optional[float] = ..., co_runners: _Optional[_Iterable[str]] = ..., device: _Optional[str] = ...) -> None: ...

class GetStateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LoadModelRequest(_message.Message):
    __slots__ = ("name", "max_batch_size")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_batch_size: int
    def __init__(self, name: _Optional[str] = ..., max_batch_size: _Optional[int] = ...) -> None: ...

class UnloadModelRequest(_message.Message):
    __slots__ = ("name", "drain_s")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DRAIN_S_FIELD_NUMBER: _ClassVar[int]
    name: str
    drain_s: float
    def __init__(self, name: _Optional[str] = ..., drain_s: _Optional[float] = ...) -> None: ...

class PlaceRequest(_message.Message):
    __slots__ = ("model", "replicas")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    model: str
    replicas: int
    def __init__(self, model: _Optional[str] = ..., replicas: _Optional[int] = ...) -> None: ...

class RemoveRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: str
    def __init__(self, model: _Optional[str] = ...) -> None: ...

class PlaceReply(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workers: _Optional[_Iterable[str]] = ...) -> None: ...

class GetPlanRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PlanState(_message.Message):
    __slots__ = ("plan_json", "moves", "demand_rps", "planned_at")
    class DemandRpsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    PLAN_JSON_FIELD_NUMBER: _ClassVar[int]
    MOVES_FIELD_NUMBER: _ClassVar[int]
    DEMAND_RPS_FIELD_NUMBER: _ClassVar[int]
    PLANNED_AT_FIELD_NUMBER: _ClassVar[int]
    plan_json: str
    moves: _containers.RepeatedCompositeFieldContainer[Move]
    demand_rps: _containers.ScalarMap[str, float]
    planned_at: float
    def __init__(self, plan_json: _Optional[str] = ..., moves: _Optional[_Iterable[_Union[Move, _Mapping]]] = ..., demand_rps: _Optional[_Mapping[str, float]] = ..., planned_at: _Optional[float] = ...) -> None: ...

class Move(_message.Message):
    __slots__ = ("at", "action", "model", "worker_id", "outcome")
    AT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    at: float
    action: str
    model: str
    worker_id: str
    outcome: str
    def __init__(self, at: _Optional[float] = ..., action: _Optional[str] = ..., model: _Optional[str] = ..., worker_id: _Optional[str] = ..., outcome: _Optional[str] = ...) -> None: ...

class InferFrame(_message.Message):
    __slots__ = ("tag", "request", "timeout_s", "cancel")
    TAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    tag: int
    request: bytes
    timeout_s: float
    cancel: bool
    def __init__(self, tag: _Optional[int] = ..., request: _Optional[bytes] = ..., timeout_s: _Optional[float] = ..., cancel: bool = ...) -> None: ...

class InferFrames(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[InferFrame]
    def __init__(self, frames: _Optional[_Iterable[_Union[InferFrame, _Mapping]]] = ...) -> None: ...

class InferReply(_message.Message):
    __slots__ = ("tag", "response", "code", "message")
    TAG_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    tag: int
    response: bytes
    code: int
    message: str
    def __init__(self, tag: _Optional[int] = ..., response: _Optional[bytes] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class InferReplies(_message.Message):
    __slots__ = ("replies",)
    REPLIES_FIELD_NUMBER: _ClassVar[int]
    replies: _containers.RepeatedCompositeFieldContainer[InferReply]
    def __init__(self, replies: _Optional[_Iterable[_Union[InferReply, _Mapping]]] = ...) -> None: ...
