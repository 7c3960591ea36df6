"""Static features of an ONNX model at a batch size, read from the graph itself.

Shapes are inferred with the batch axis fixed, then each node's FLOPs are counted: Conv, Gemm
and MatMul at 2 per multiply-accumulate, every other operator at one per output element.
Parameter bytes are the initializers; activation bytes are every intermediate tensor written
once. Arithmetic intensity is FLOPs per byte moved (parameters + activations), which separates
compute-bound models from memory-bound ones, the axis along which co-runners interfere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import helper, numpy_helper, shape_inference

_MATRIX_OPS = {"MatMul", "Gemm"}


@dataclass(frozen=True)
class GraphFeatures:
    flops: float  # per batch
    param_bytes: float
    activation_bytes: float  # per batch
    conv_flop_share: float
    matmul_flop_share: float
    other_flop_share: float
    arithmetic_intensity: float  # flops / (param + activation bytes)
    node_count: int


def _shapes(model: onnx.ModelProto, batch_size: int) -> dict[str, list[int]]:
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch_size
    inferred = shape_inference.infer_shapes(fixed)
    shapes = {}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    for init in inferred.graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def node_flops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> float:
    out = shapes.get(node.output[0], [])
    out_elements = math.prod(out) if out else 0
    if node.op_type == "Conv":
        weight = shapes[node.input[1]]  # [Cout, Cin/groups, kh, kw]
        return 2.0 * out_elements * math.prod(weight[1:])
    if node.op_type in _MATRIX_OPS:
        a = shapes[node.input[0]]
        k = a[-1] if node.op_type == "MatMul" or not helper.get_node_attr_value(node, "transA") else a[-2]
        return 2.0 * out_elements * k
    return float(out_elements)


def graph_features(model: onnx.ModelProto, batch_size: int) -> GraphFeatures:
    shapes = _shapes(model, batch_size)
    initializers = {init.name for init in model.graph.initializer}
    param_bytes = float(sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer))
    by_kind = {"conv": 0.0, "matmul": 0.0, "other": 0.0}
    activation_bytes = 0.0
    for node in model.graph.node:
        flops = node_flops(node, shapes)
        kind = "conv" if node.op_type == "Conv" else "matmul" if node.op_type in _MATRIX_OPS else "other"
        by_kind[kind] += flops
        for name in node.output:
            if name not in initializers and name in shapes:
                activation_bytes += 4.0 * math.prod(shapes[name])
    total = sum(by_kind.values()) or 1.0
    return GraphFeatures(
        flops=total,
        param_bytes=param_bytes,
        activation_bytes=activation_bytes,
        conv_flop_share=by_kind["conv"] / total,
        matmul_flop_share=by_kind["matmul"] / total,
        other_flop_share=by_kind["other"] / total,
        arithmetic_intensity=total / max(param_bytes + activation_bytes, 1.0),
        node_count=len(model.graph.node),
    )


def model_features(path: Path, batch_size: int) -> GraphFeatures:
    return graph_features(onnx.load(str(path)), batch_size)


def multiply_accumulate_flops(features: GraphFeatures) -> float:
    """Conv + matrix FLOPs only: the figure the zoo records, for cross-checking."""
    return features.flops * (features.conv_flop_share + features.matmul_flop_share)
