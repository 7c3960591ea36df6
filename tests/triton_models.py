"""Stand-ins for the models NVIDIA's Triton client examples expect, in Triton's repository layout.

Built by the tests (nothing is fetched), as ONNX graphs with the names, data types and shapes
the examples use: `simple` (two INT32 [16] inputs, their sum and difference), `simple_string`
(the same over numbers written as strings, BYTES in and out), `simple_int8`, `simple_nobatch`
(`max_batch_size: 0`), `simple_identity` (BYTES echoed back), `simple_autocomplete` (a
version folder and no config.pbtxt at all) and `densenet_onnx` (an image classifier as the
image client expects it: non-batching, NCHW input `data_0`, output `fc6_1` with a labels file;
small, with fixed weights, so the top classes of an input are known) and `simple_sequence` (a
stateful accumulator: START/READY/CORRID control inputs and implicit state, as Triton's
sequence examples drive it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 9  # ONNX Runtime 1.31 loads IR <= 13
OPSET = 17


def _save(graph: onnx.GraphProto, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _sum_and_difference(name: str, element: int, shape: list, as_strings: bool = False) -> onnx.GraphProto:
    io_type = TensorProto.STRING if as_strings else element
    inputs = [helper.make_tensor_value_info(n, io_type, shape) for n in ("INPUT0", "INPUT1")]
    outputs = [helper.make_tensor_value_info(n, io_type, shape) for n in ("OUTPUT0", "OUTPUT1")]
    nodes = []
    a, b = "INPUT0", "INPUT1"
    if as_strings:
        nodes += [
            helper.make_node("Cast", [a], ["a"], to=element),
            helper.make_node("Cast", [b], ["b"], to=element),
        ]
        a, b = "a", "b"
    sums, differences = ("sum", "difference") if as_strings else ("OUTPUT0", "OUTPUT1")
    nodes += [helper.make_node("Add", [a, b], [sums]), helper.make_node("Sub", [a, b], [differences])]
    if as_strings:
        nodes += [
            helper.make_node("Cast", ["sum"], ["OUTPUT0"], to=TensorProto.STRING),
            helper.make_node("Cast", ["difference"], ["OUTPUT1"], to=TensorProto.STRING),
        ]
    return helper.make_graph(nodes, name, inputs, outputs)


SIMPLE_CONFIG = """
name: "{name}"
platform: "onnxruntime_onnx"
max_batch_size: {max_batch_size}
input [
  {{ name: "INPUT0" data_type: {datatype} dims: [ 16 ] }},
  {{ name: "INPUT1" data_type: {datatype} dims: [ 16 ] }}
]
output [
  {{ name: "OUTPUT0" data_type: {datatype} dims: [ 16 ] }},
  {{ name: "OUTPUT1" data_type: {datatype} dims: [ 16 ] }}
]
{extra}
"""


def build_triton_repository(root: Path) -> Path:
    batch = ["batch", 16]
    models = {
        "simple": (_sum_and_difference("simple", TensorProto.INT32, batch), 8, "TYPE_INT32"),
        "simple_int8": (_sum_and_difference("simple_int8", TensorProto.INT8, batch), 8, "TYPE_INT8"),
        "simple_string": (
            _sum_and_difference("simple_string", TensorProto.INT32, batch, as_strings=True),
            8,
            "TYPE_STRING",
        ),
        "simple_nobatch": (_sum_and_difference("simple_nobatch", TensorProto.INT32, [16]), 0, "TYPE_INT32"),
    }
    for name, (graph, max_batch_size, datatype) in models.items():
        folder = root / name
        _save(graph, folder / "1" / "model.onnx")
        extra = "dynamic_batching { max_queue_delay_microseconds: 100 }" if max_batch_size else ""
        extra += '\nparameters { key: "slo_ms" value: { string_value: "50" } }'
        (folder / "config.pbtxt").write_text(
            SIMPLE_CONFIG.format(name=name, max_batch_size=max_batch_size, datatype=datatype, extra=extra)
        )
    # Two versions; the config asks for the older one.
    _save(_sum_and_difference("simple", TensorProto.INT32, batch), root / "simple" / "2" / "model.onnx")
    with (root / "simple" / "config.pbtxt").open("a") as config:
        config.write("version_policy: { specific: { versions: [ 1 ] } }\n")
    identity = helper.make_graph(
        [helper.make_node("Identity", ["INPUT0"], ["OUTPUT0"])],
        "simple_identity",
        [helper.make_tensor_value_info("INPUT0", TensorProto.STRING, ["batch", 1])],
        [helper.make_tensor_value_info("OUTPUT0", TensorProto.STRING, ["batch", 1])],
    )
    _save(identity, root / "simple_identity" / "1" / "model.onnx")
    (root / "simple_identity" / "config.pbtxt").write_text(
        'name: "simple_identity"\nbackend: "onnxruntime"\nmax_batch_size: 8\n'
        'input [ { name: "INPUT0" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
        'output [ { name: "OUTPUT0" data_type: TYPE_STRING dims: [ 1 ] } ]\n'
    )
    _save(
        _sum_and_difference("simple_autocomplete", TensorProto.FLOAT, batch),
        root / "simple_autocomplete" / "3" / "model.onnx",
    )
    _save(_classifier(), root / "densenet_onnx" / "1" / "model.onnx")
    (root / "densenet_onnx" / "densenet_labels.txt").write_text(
        "".join(f"CLASS_{i}\n" for i in range(CLASSES))
    )
    (root / "densenet_onnx" / "config.pbtxt").write_text(DENSENET_CONFIG)
    _save(_accumulator(), root / "simple_sequence" / "1" / "model.onnx")
    (root / "simple_sequence" / "config.pbtxt").write_text(SEQUENCE_CONFIG)
    return root


SEQUENCE_CONFIG = """
name: "simple_sequence"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [ { name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
sequence_batching {
  max_sequence_idle_microseconds: 5000000
  direct { }
  control_input [
    { name: "START" control [ { kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] } ] },
    { name: "READY" control [ { kind: CONTROL_SEQUENCE_READY int32_false_true: [ 0, 1 ] } ] },
    { name: "CORRID" control [ { kind: CONTROL_SEQUENCE_CORRID data_type: TYPE_UINT64 } ] }
  ]
  state [ { input_name: "INPUT_STATE" output_name: "OUTPUT_STATE" data_type: TYPE_INT32 dims: [ 1 ] } ]
}
"""


def _accumulator() -> onnx.GraphProto:
    """Triton's simple_sequence: OUTPUT is the running sum of the sequence's INPUTs (START resets it),
    kept in implicit state; READY and CORRID are filled by the server and unused."""
    one = numpy_helper.from_array(np.array([[1]], dtype=np.int32), "one")
    batch_1 = ["batch", 1]
    return helper.make_graph(
        [
            helper.make_node("Sub", ["one", "START"], ["keep"]),
            helper.make_node("Mul", ["INPUT_STATE", "keep"], ["previous"]),
            helper.make_node("Add", ["previous", "INPUT"], ["OUTPUT"]),
            helper.make_node("Identity", ["OUTPUT"], ["OUTPUT_STATE"]),
        ],
        "simple_sequence",
        [
            helper.make_tensor_value_info("INPUT", TensorProto.INT32, batch_1),
            helper.make_tensor_value_info("START", TensorProto.INT32, batch_1),
            helper.make_tensor_value_info("READY", TensorProto.INT32, batch_1),
            helper.make_tensor_value_info("CORRID", TensorProto.UINT64, batch_1),
            helper.make_tensor_value_info("INPUT_STATE", TensorProto.INT32, batch_1),
        ],
        [
            helper.make_tensor_value_info("OUTPUT", TensorProto.INT32, batch_1),
            helper.make_tensor_value_info("OUTPUT_STATE", TensorProto.INT32, batch_1),
        ],
        initializer=[one],
    )


CLASSES = 10
IMAGE = [3, 8, 8]
DENSENET_CONFIG = """
name: "densenet_onnx"
platform: "onnxruntime_onnx"
max_batch_size: 0
input [ { name: "data_0" data_type: TYPE_FP32 format: FORMAT_NCHW dims: [ 3, 8, 8 ] } ]
output [ { name: "fc6_1" data_type: TYPE_FP32 dims: [ 10 ] label_filename: "densenet_labels.txt" } ]
"""


def classifier_weights() -> np.ndarray:
    return np.random.default_rng(7).standard_normal((int(np.prod(IMAGE)), CLASSES)).astype(np.float32)


def _classifier() -> onnx.GraphProto:
    """fc6_1 = flatten(data_0) @ W, with W = classifier_weights()."""
    weights = numpy_helper.from_array(classifier_weights(), "W")
    flat = numpy_helper.from_array(np.array([1, -1], dtype=np.int64), "flat")
    classes = numpy_helper.from_array(np.array([CLASSES], dtype=np.int64), "classes")
    return helper.make_graph(
        [
            helper.make_node("Reshape", ["data_0", "flat"], ["row"]),
            helper.make_node("MatMul", ["row", "W"], ["scores"]),
            helper.make_node("Reshape", ["scores", "classes"], ["fc6_1"]),
        ],
        "densenet_onnx",
        [helper.make_tensor_value_info("data_0", TensorProto.FLOAT, IMAGE)],
        [helper.make_tensor_value_info("fc6_1", TensorProto.FLOAT, [CLASSES])],
        initializer=[weights, flat, classes],
    )
