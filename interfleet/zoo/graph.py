"""A small ONNX graph builder that counts FLOPs and parameters as it goes.

FLOPs are those of Conv, Gemm and MatMul (2 per multiply-accumulate), per sample, which is
what dominates these networks; element-wise operators are not counted.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# ONNX Runtime 1.31 loads IR version <= 13; 9 is what opset 17 needs and every runtime since 1.15 reads.
IR_VERSION = 9


class GraphBuilder:
    """Accumulates nodes and random initializers; `finish` returns the ONNX model."""

    def __init__(self, name: str, seed: int):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.flops = 0
        self.params = 0
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    def constant(self, value: np.ndarray, prefix: str = "const") -> str:
        name = self.fresh(prefix)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, shape: tuple[int, ...], fan_in: int) -> str:
        """He-initialised weights, so activations neither vanish nor blow up with depth."""
        value = (self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        self.params += value.size
        return self.constant(value, "w")

    def bias(self, size: int) -> str:
        value = (self.rng.standard_normal(size) * 0.01).astype(np.float32)
        self.params += value.size
        return self.constant(value, "b")

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    # -- layers --------------------------------------------------------------------------

    def conv(
        self, x: str, cin: int, cout: int, k: int, hw: int, stride: int = 1, groups: int = 1
    ) -> tuple[str, int]:
        """Conv (with bias, standing in for conv+folded batch-norm); returns (output, spatial size)."""
        pad = k // 2
        out_hw = (hw + 2 * pad - k) // stride + 1
        w = self.weight((cout, cin // groups, k, k), fan_in=cin // groups * k * k)
        y = self.op(
            "Conv",
            [x, w, self.bias(cout)],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad] * 4,
            group=groups,
        )
        self.flops += 2 * (cin // groups) * k * k * cout * out_hw * out_hw
        return y, out_hw

    def linear(self, x: str, fan_in: int, fan_out: int, tokens: int = 1) -> str:
        """x @ W + b over the last axis; `tokens` rows per sample for the FLOP count."""
        y = self.op("MatMul", [x, self.weight((fan_in, fan_out), fan_in)])
        self.flops += 2 * fan_in * fan_out * tokens
        return self.op("Add", [y, self.bias(fan_out)])

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def classifier_head(self, features: str, width: int, classes: int) -> list[str]:
        """Logits and their softmax: two outputs, so clients can request a subset."""
        logits = self.linear(features, width, classes)
        probabilities = self.op("Softmax", [logits], axis=-1)
        self.nodes.append(helper.make_node("Identity", [logits], ["logits"]))
        self.nodes.append(helper.make_node("Identity", [probabilities], ["probabilities"]))
        return ["logits", "probabilities"]

    def finish(self, inputs: list[onnx.ValueInfoProto], output_shapes: dict[str, list]) -> onnx.ModelProto:
        outputs = [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)
            for name, shape in output_shapes.items()
        ]
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="interfleet-zoo"
        )
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model
