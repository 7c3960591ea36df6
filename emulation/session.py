"""A stand-in for an ONNX Runtime session that runs on an emulated GPU.

It reads the model's inputs and outputs from the ONNX graph (so the worker validates requests
and describes the model exactly as it would with ONNX Runtime), and answers `run` with
correctly shaped outputs, all zeros, after the batch has spent its time on the shared
`RealtimeDevice`. Only the interface the worker uses is provided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from emulation.realtime import RealtimeDevice
from emulation.workload import Workload

_ONNX_TYPES: dict[int, str] = {
    onnx.TensorProto.FLOAT: "tensor(float)",
    onnx.TensorProto.FLOAT16: "tensor(float16)",
    onnx.TensorProto.DOUBLE: "tensor(double)",
    onnx.TensorProto.INT64: "tensor(int64)",
    onnx.TensorProto.INT32: "tensor(int32)",
    onnx.TensorProto.INT8: "tensor(int8)",
    onnx.TensorProto.UINT8: "tensor(uint8)",
    onnx.TensorProto.BOOL: "tensor(bool)",
}
_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


@dataclass(frozen=True)
class NodeArg:
    """What `onnxruntime.NodeArg` tells the worker: a name, a type and a shape (str for dynamic axes)."""

    name: str
    type: str
    shape: list


def _args(values: Sequence[onnx.ValueInfoProto]) -> list[NodeArg]:
    args = []
    for value in values:
        tensor = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
        args.append(
            NodeArg(value.name, _ONNX_TYPES.get(tensor.elem_type, f"tensor({tensor.elem_type})"), shape)
        )
    return args


class EmulatedSession:
    def __init__(self, path: Path, workload: Workload, device: RealtimeDevice):
        graph = onnx.load(str(path), load_external_data=False).graph
        initializers = {init.name for init in graph.initializer}
        self._inputs = _args([v for v in graph.input if v.name not in initializers])
        self._outputs = _args(graph.output)
        self._workload = workload
        self._device = device

    def get_inputs(self) -> list[NodeArg]:
        return self._inputs

    def get_outputs(self) -> list[NodeArg]:
        return self._outputs

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        batch = len(next(iter(feeds.values()))) if feeds else 1
        self._device.run(self._workload, batch)
        wanted = {a.name: a for a in self._outputs}
        names = list(output_names) if output_names else list(wanted)
        return [
            np.zeros(
                [batch, *(d if isinstance(d, int) and d > 0 else 1 for d in wanted[n].shape[1:])],
                _NUMPY[wanted[n].type],
            )
            for n in names
        ]
