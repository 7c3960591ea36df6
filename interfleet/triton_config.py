"""Triton's model configuration (`config.pbtxt`) read into the fields a ModelSpec takes.

The file is parsed with Triton's own `ModelConfig` message (tritonclient ships it) in protobuf
text format, so a field Triton does not know is an error naming its line, as in Triton. A model
folder without one is auto-completed from its ONNX graph, as Triton's ONNX Runtime backend
does: batching (max_batch_size 4, Triton's `default-max-batch-size`, with dynamic batching) when
every input and output has a dynamic first axis, non-batching (max_batch_size 0) otherwise.

What interfleet takes from a config:
- `max_batch_size` (0: no batch axis; requests are run one at a time, never batched together);
- `input`/`output` (names, data types, dims, an input's `format`, an output's `label_filename`),
  checked against the graph: a config that disagrees with its model is refused, naming both;
- `dynamic_batching` onto the worker's batchers: absent, requests run as they come (`none`, as
  Triton); present, Triton's own policy (`fixed`: a batch when full or when the oldest request
  has waited `max_queue_delay_microseconds`), up to the largest `preferred_batch_size`;
  `parameters { key: "batching" value: { string_value: "adaptive" } }` chooses interfleet's
  deadline-aware batcher instead;
- `version_policy` and `default_model_filename` to find the file to serve (see
  `interfleet.repository`);
- `parameters`: `slo_ms` (the latency target, default DEFAULT_SLO_MS: Triton configs carry
  none), `batching`, `description`.
- `sequence_batching` with the direct strategy: control inputs (START, END, READY, CORRID) and
  implicit `state`, filled by the worker, and `max_sequence_idle_microseconds`
  (`interfleet.repository.SequenceSettings`). A sequence's requests run one at a time.
Other fields (instance groups, optimization, warm-up) are not used; ensembles, decoupled models
and a platform or backend other than ONNX Runtime are refused, saying so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from interfleet.repository import SequenceControl, SequenceSettings, SequenceStateTensor

CONFIG_FILE = "config.pbtxt"
ONNX_PLATFORM = "onnxruntime_onnx"
ONNX_BACKEND = "onnxruntime"
DEFAULT_MODEL_FILE = "model.onnx"
# Triton's ONNX Runtime backend's default-max-batch-size for an auto-completed batching model.
AUTOCOMPLETE_MAX_BATCH_SIZE = 4
# The SLO of a Triton-layout model whose config names none: Triton has no latency target, and
# batchers and SLO metrics need one. Override it with `parameters { key: "slo_ms" ... }`.
DEFAULT_SLO_MS = 100.0
BATCHING_POLICIES = ("none", "fixed", "aimd", "adaptive")


class TritonConfigError(ValueError):
    """A config.pbtxt that cannot be used; the message names the file and what is wrong."""


def read_config(path: Path) -> model_config_pb2.ModelConfig:
    try:
        text = path.read_text()
    except OSError as exc:
        raise TritonConfigError(f"{path}: cannot read model config: {exc.strerror}") from None
    try:
        return text_format.Parse(text, model_config_pb2.ModelConfig())
    except text_format.ParseError as exc:
        raise TritonConfigError(f"{path}: not a Triton ModelConfig: {exc}") from None


def parameter(config: model_config_pb2.ModelConfig, key: str) -> str | None:
    return config.parameters[key].string_value if key in config.parameters else None


def datatype_of(config_type: int) -> str:
    """Triton's DataType enum value (TYPE_FP32) as a v2 datatype (FP32); TYPE_STRING is BYTES."""
    name = model_config_pb2.DataType.Name(config_type)
    return "BYTES" if name == "TYPE_STRING" else name.removeprefix("TYPE_")


def spec_fields(config: model_config_pb2.ModelConfig, where: Path, max_batch_limit: int) -> dict[str, Any]:
    """The ModelSpec fields a config gives (see the module docstring), or TritonConfigError."""
    if config.platform and config.platform != ONNX_PLATFORM:
        raise TritonConfigError(
            f"{where}: platform {config.platform!r} is not served: interfleet runs ONNX models"
        )
    if config.backend and config.backend != ONNX_BACKEND:
        raise TritonConfigError(
            f"{where}: backend {config.backend!r} is not served: interfleet runs ONNX models"
        )
    if config.model_transaction_policy.decoupled:
        raise TritonConfigError(f"{where}: decoupled models (several responses per request) are not served")
    if config.HasField("ensemble_scheduling"):
        raise TritonConfigError(f"{where}: ensembles are not served: each model of one is served on its own")
    if not 0 <= config.max_batch_size <= max_batch_limit:
        raise TritonConfigError(
            f"{where}: max_batch_size must be 0..{max_batch_limit}, got {config.max_batch_size}"
        )
    slo = parameter(config, "slo_ms")
    try:
        slo_ms = DEFAULT_SLO_MS if slo is None else float(slo)
    except ValueError:
        raise TritonConfigError(
            f"{where}: parameter slo_ms must be a number of milliseconds, got {slo!r}"
        ) from None
    if not (math.isfinite(slo_ms) and slo_ms > 0):
        raise TritonConfigError(f"{where}: parameter slo_ms must be a positive number, got {slo!r}")
    return {
        "max_batch_size": config.max_batch_size,
        "slo_ms": slo_ms,
        "description": parameter(config, "description") or "",
        "batching": _batching(config, where),
        "input_formats": {
            i.name: model_config_pb2.ModelInput.Format.Name(i.format)
            for i in config.input
            if i.format != model_config_pb2.ModelInput.FORMAT_NONE
        },
        "labels": {o.name: o.label_filename for o in config.output if o.label_filename},
        "sequence": _sequence(config, where) if config.HasField("sequence_batching") else None,
    }


# Triton's default max_sequence_idle_microseconds.
DEFAULT_SEQUENCE_IDLE_S = 1.0
_CONTROL_KINDS = {
    model_config_pb2.ModelSequenceBatching.Control.CONTROL_SEQUENCE_START: "start",
    model_config_pb2.ModelSequenceBatching.Control.CONTROL_SEQUENCE_END: "end",
    model_config_pb2.ModelSequenceBatching.Control.CONTROL_SEQUENCE_READY: "ready",
    model_config_pb2.ModelSequenceBatching.Control.CONTROL_SEQUENCE_CORRID: "corrid",
}


def _sequence(config: model_config_pb2.ModelConfig, where: Path) -> SequenceSettings:
    batching = config.sequence_batching
    if batching.HasField("oldest"):
        raise TritonConfigError(
            f"{where}: sequence_batching's oldest strategy is not served; use the direct strategy"
        )
    controls = []
    for control_input in batching.control_input:
        for control in control_input.control:
            kind = _CONTROL_KINDS.get(control.kind)
            if kind is None:
                raise TritonConfigError(
                    f"{where}: control input '{control_input.name}' has a kind interfleet does not fill"
                )
            if kind == "corrid":
                controls.append(SequenceControl(control_input.name, kind, datatype_of(control.data_type)))
                continue
            for values, datatype in (
                (control.int32_false_true, "INT32"),
                (control.fp32_false_true, "FP32"),
                (control.bool_false_true, "BOOL"),
            ):
                if values:
                    if len(values) != 2:
                        raise TritonConfigError(
                            f"{where}: control input '{control_input.name}' needs [false, true]"
                        )
                    controls.append(SequenceControl(control_input.name, kind, datatype, values[0], values[1]))
                    break
            else:
                raise TritonConfigError(
                    f"{where}: control input '{control_input.name}' gives no false/true values"
                )
    states = tuple(
        SequenceStateTensor(s.input_name, s.output_name, datatype_of(s.data_type), tuple(s.dims))
        for s in batching.state
    )
    idle_us = batching.max_sequence_idle_microseconds
    return SequenceSettings(idle_us / 1e6 if idle_us else DEFAULT_SEQUENCE_IDLE_S, tuple(controls), states)


def _batching(config: model_config_pb2.ModelConfig, where: Path) -> dict[str, Any]:
    chosen = parameter(config, "batching")
    if chosen is not None and chosen not in BATCHING_POLICIES:
        raise TritonConfigError(
            f"{where}: parameter batching must be one of {', '.join(BATCHING_POLICIES)}, got {chosen!r}"
        )
    if config.max_batch_size == 0:
        return {"policy": "none"}
    if chosen is not None:
        return {"policy": chosen}
    if config.HasField("sequence_batching"):  # the direct strategy batches across live sequences
        delay_us = config.sequence_batching.direct.max_queue_delay_microseconds
        return {"policy": "fixed", "max_delay_ms": delay_us / 1e3}
    if not config.HasField("dynamic_batching"):
        return {"policy": "none"}
    batching: dict[str, Any] = {
        "policy": "fixed",
        "max_delay_ms": config.dynamic_batching.max_queue_delay_microseconds / 1e3,
    }
    preferred = [s for s in config.dynamic_batching.preferred_batch_size if 0 < s <= config.max_batch_size]
    if preferred:
        batching["max_batch_size"] = max(preferred)
    return batching


def check_against_graph(
    config: model_config_pb2.ModelConfig,
    graph_inputs: dict[str, tuple[str, tuple[int, ...]]],
    graph_outputs: dict[str, tuple[str, tuple[int, ...]]],
    where: Path,
) -> None:
    """Refuse a config whose inputs or outputs disagree with the graph's (name -> datatype, shape
    with -1 for dynamic axes): Triton refuses such a model too."""
    for kind, declared, actual in (
        ("input", config.input, graph_inputs),
        ("output", config.output, graph_outputs),
    ):
        for tensor in declared:
            if tensor.name not in actual:
                raise TritonConfigError(
                    f"{where}: {kind} '{tensor.name}' is not in the model (its {kind}s: {', '.join(actual)})"
                )
            datatype, shape = actual[tensor.name]
            if datatype_of(tensor.data_type) != datatype:
                raise TritonConfigError(
                    f"{where}: {kind} '{tensor.name}' is {datatype_of(tensor.data_type)} in the config "
                    f"but {datatype} in the model"
                )
            model_dims = shape[1:] if config.max_batch_size > 0 else shape
            dims = tuple(tensor.reshape.shape) if tensor.HasField("reshape") else tuple(tensor.dims)
            if len(dims) != len(model_dims) or any(
                d != m and -1 not in (d, m) for d, m in zip(dims, model_dims)
            ):
                raise TritonConfigError(
                    f"{where}: {kind} '{tensor.name}' has dims {list(dims)} in the config but "
                    f"{list(model_dims)} in the model{' after its batch axis' if config.max_batch_size else ''}"
                )
        if config.max_batch_size > 0:
            for name, (_, shape) in actual.items():
                if not shape or shape[0] != -1:
                    raise TritonConfigError(
                        f"{where}: max_batch_size {config.max_batch_size} needs a dynamic first (batch) axis, "
                        f"but {kind} '{name}' has shape {list(shape)}; use max_batch_size: 0 for a model without one"
                    )


def autocomplete(
    name: str,
    graph_inputs: dict[str, tuple[str, tuple[int, ...]]],
    graph_outputs: dict[str, tuple[str, tuple[int, ...]]],
) -> model_config_pb2.ModelConfig:
    """The config Triton's ONNX Runtime backend would fill in for a model folder without one."""
    batching = all(shape and shape[0] == -1 for _, shape in (*graph_inputs.values(), *graph_outputs.values()))
    config = model_config_pb2.ModelConfig(
        name=name,
        platform=ONNX_PLATFORM,
        backend=ONNX_BACKEND,
        max_batch_size=AUTOCOMPLETE_MAX_BATCH_SIZE if batching else 0,
    )
    if batching:
        config.dynamic_batching.SetInParent()
    return config


# ONNX TensorProto element types -> v2 datatypes (ONNX strings are BYTES).
_ONNX_DATATYPES = {
    "FLOAT": "FP32",
    "DOUBLE": "FP64",
    "FLOAT16": "FP16",
    "BOOL": "BOOL",
    "STRING": "BYTES",
    **{t: t for t in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64")},
}


def graph_tensors(
    path: Path,
) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, tuple[str, tuple[int, ...]]]]:
    """An ONNX file's inputs and outputs: name -> (v2 datatype, shape with -1 for dynamic axes)."""
    import onnx  # the graph is read only where a Triton-layout model is loaded

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # noqa: BLE001 - onnx raises its own untyped errors
        raise TritonConfigError(f"{path}: not a readable ONNX model: {exc}") from None
    initializers = {i.name for i in graph.initializer}

    def tensors(values) -> dict[str, tuple[str, tuple[int, ...]]]:
        out = {}
        for value in values:
            if value.name in initializers:
                continue
            kind = value.type.tensor_type
            element = onnx.TensorProto.DataType.Name(kind.elem_type)
            shape = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim)
            out[value.name] = (_ONNX_DATATYPES.get(element, element), shape)
        return out

    return tensors(graph.input), tensors(graph.output)


def select_version(policy: model_config_pb2.ModelVersionPolicy, available: list[int]) -> int | None:
    """The version to serve: the newest the policy allows among the folders present. interfleet
    serves one version of a model at a time, so `latest { num_versions: 2 }` and `all` serve the
    newest, and `specific` the newest of those listed."""
    if policy.HasField("specific"):
        allowed = [v for v in available if v in set(policy.specific.versions)]
        return max(allowed) if allowed else None
    return max(available) if available else None
