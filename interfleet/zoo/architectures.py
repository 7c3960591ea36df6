"""The zoo's architectures, each a function from a seed to a `ZooModel`.

Shapes follow the published networks (ResNet-18/10 basic blocks, MobileNet-v1 depthwise
separable stacks, a BERT-style encoder) at sizes that run in milliseconds on a CPU core.
Every model has a dynamic batch axis named "batch".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper

from interfleet.zoo.graph import GraphBuilder

BATCH = "batch"


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str
    description: str
    model: onnx.ModelProto
    flops_per_sample: int
    parameter_count: int
    slo_ms: float
    max_batch_size: int


def _image_input(size: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, 3, size, size])


def _classifier_outputs(classes: int) -> dict[str, list]:
    return {"logits": [BATCH, classes], "probabilities": [BATCH, classes]}


def resnet(name: str, blocks: tuple[int, ...], image: int, seed: int, slo_ms: float) -> ZooModel:
    """ResNet with basic blocks (two 3x3 convs and a shortcut), as ResNet-18 and -34 use."""
    g = GraphBuilder(name, seed)
    x, hw = g.conv("input", 3, 64, 7, image, stride=2)
    x = g.relu(x)
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    hw = (hw + 2 - 3) // 2 + 1
    cin = 64
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        for block in range(count):
            stride = 2 if stage > 0 and block == 0 else 1
            y, out_hw = g.conv(x, cin, width, 3, hw, stride=stride)
            y, _ = g.conv(g.relu(y), width, width, 3, out_hw)
            shortcut = x if stride == 1 and cin == width else g.conv(x, cin, width, 1, hw, stride=stride)[0]
            x, hw, cin = g.relu(g.op("Add", [y, shortcut])), out_hw, width
    features = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    g.classifier_head(features, cin, 1000)
    model = g.finish([_image_input(image)], _classifier_outputs(1000))
    depth = 2 + 2 * sum(blocks)
    return ZooModel(
        name,
        "resnet",
        f"ResNet-{depth} (basic blocks {blocks}), {image}x{image} RGB, 1000 classes",
        model,
        g.flops,
        g.params,
        slo_ms,
        16,
    )


def mobilenet(name: str, image: int, width: float, seed: int, slo_ms: float) -> ZooModel:
    """MobileNet-v1: a stem conv then depthwise 3x3 + pointwise 1x1 pairs."""
    g = GraphBuilder(name, seed)
    plan = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    )
    cin = int(32 * width)
    x, hw = g.conv("input", 3, cin, 3, image, stride=2)
    x = g.relu(x)
    for channels, stride in plan:
        cout = int(channels * width)
        x, hw = g.conv(x, cin, cin, 3, hw, stride=stride, groups=cin)
        x, hw = g.conv(g.relu(x), cin, cout, 1, hw)
        x, cin = g.relu(x), cout
    features = g.op("Flatten", [g.op("GlobalAveragePool", [x])], axis=1)
    g.classifier_head(features, cin, 1000)
    model = g.finish([_image_input(image)], _classifier_outputs(1000))
    return ZooModel(
        name,
        "mobilenet",
        f"MobileNet-v1 x{width}, {image}x{image} RGB, 1000 classes",
        model,
        g.flops,
        g.params,
        slo_ms,
        16,
    )


def transformer(
    name: str, seq: int, dim: int, heads: int, layers: int, vocab: int, seed: int, slo_ms: float
) -> ZooModel:
    """A BERT-style encoder over token ids with an attention mask, mean-pooled to 2 classes."""
    g = GraphBuilder(name, seed)
    head_dim = dim // heads
    table = (g.rng.standard_normal((vocab, dim)) * 0.02).astype(np.float32)
    g.params += table.size
    x = g.op("Gather", [g.constant(table, "embedding"), "input_ids"], axis=0)
    positions = (g.rng.standard_normal((seq, dim)) * 0.02).astype(np.float32)
    g.params += positions.size
    x = g.op("Add", [x, g.constant(positions, "positions")])
    # Additive mask: 0 where attended, -1e4 where padded, broadcast over heads and queries.
    mask = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    mask = g.op("Mul", [g.op("Sub", [g.constant(np.float32(1.0)), mask]), g.constant(np.float32(-1e4))])
    mask = g.op("Unsqueeze", [mask, g.constant(np.array([1, 2], dtype=np.int64))])
    split_heads = g.constant(np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = g.constant(np.array([0, 0, dim], dtype=np.int64))
    scale = g.constant(np.float32(1.0 / math.sqrt(head_dim)))

    def layer_norm(v: str) -> str:
        gamma = g.constant(np.ones(dim, dtype=np.float32))
        beta = g.constant(np.zeros(dim, dtype=np.float32))
        g.params += 2 * dim
        return g.op("LayerNormalization", [v, gamma, beta], axis=-1)

    for _ in range(layers):
        q, k, v = (g.op("Reshape", [g.linear(x, dim, dim, seq), split_heads]) for _ in range(3))
        q = g.op("Transpose", [q], perm=[0, 2, 1, 3])
        k = g.op("Transpose", [k], perm=[0, 2, 3, 1])
        v = g.op("Transpose", [v], perm=[0, 2, 1, 3])
        scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [q, k]), scale]), mask])
        context = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), v])
        g.flops += 2 * 2 * seq * seq * dim
        context = g.op("Reshape", [g.op("Transpose", [context], perm=[0, 2, 1, 3]), merge_heads])
        x = layer_norm(g.op("Add", [x, g.linear(context, dim, dim, seq)]))
        hidden = g.relu(g.linear(x, dim, 4 * dim, seq))
        x = layer_norm(g.op("Add", [x, g.linear(hidden, 4 * dim, dim, seq)]))
    pooled = g.op("ReduceMean", [x], axes=[1], keepdims=0)  # axes is an attribute until opset 18
    g.classifier_head(pooled, dim, 2)
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [BATCH, seq]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [BATCH, seq]),
    ]
    model = g.finish(inputs, _classifier_outputs(2))
    return ZooModel(
        name,
        "transformer",
        f"Transformer encoder, {layers} layers, d={dim}, {heads} heads, {seq} tokens, vocab {vocab}",
        model,
        g.flops,
        g.params,
        slo_ms,
        16,
    )


def mlp(
    name: str, features: int, hidden: tuple[int, ...], classes: int, seed: int, slo_ms: float
) -> ZooModel:
    """Fully connected layers with ReLU: the shape of a ranking or tabular model."""
    g = GraphBuilder(name, seed)
    x, width = "input", features
    for size in hidden:
        x, width = g.relu(g.linear(x, width, size)), size
    g.classifier_head(x, width, classes)
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, [BATCH, features])]
    model = g.finish(inputs, _classifier_outputs(classes))
    return ZooModel(
        name,
        "mlp",
        f"MLP {features}-{'-'.join(map(str, hidden))}-{classes}",
        model,
        g.flops,
        g.params,
        slo_ms,
        32,
    )


def tiny_cnn(name: str, image: int, seed: int, slo_ms: float) -> ZooModel:
    """Two strided convs and a classifier: sub-millisecond, for router overhead and tests."""
    g = GraphBuilder(name, seed)
    x, hw = g.conv("input", 3, 16, 3, image, stride=2)
    x, hw = g.conv(g.relu(x), 16, 32, 3, hw, stride=2)
    features = g.op("Flatten", [g.op("GlobalAveragePool", [g.relu(x)])], axis=1)
    g.classifier_head(features, 32, 10)
    model = g.finish([_image_input(image)], _classifier_outputs(10))
    return ZooModel(
        name,
        "cnn",
        f"Tiny CNN, 2 conv layers, {image}x{image} RGB, 10 classes",
        model,
        g.flops,
        g.params,
        slo_ms,
        32,
    )


# The zoo: name -> builder. Seeds are fixed so every build of the zoo is the same models.
ZOO: dict[str, Callable[[], ZooModel]] = {
    "resnet18": lambda: resnet("resnet18", (2, 2, 2, 2), 224, seed=18, slo_ms=100.0),
    "resnet10": lambda: resnet("resnet10", (1, 1, 1, 1), 160, seed=10, slo_ms=50.0),
    "mobilenet": lambda: mobilenet("mobilenet", 160, 0.75, seed=1, slo_ms=40.0),
    "transformer": lambda: transformer("transformer", 64, 128, 4, 2, 8000, seed=2, slo_ms=30.0),
    "mlp": lambda: mlp("mlp", 256, (1024, 1024), 10, seed=3, slo_ms=10.0),
    "tiny_cnn": lambda: tiny_cnn("tiny_cnn", 64, seed=4, slo_ms=10.0),
}
