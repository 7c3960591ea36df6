"""The realistic workload set: the models the serving literature measures, as graph statistics.

The zoo's generated models run 0.05-1 ms on these GPUs; the papers the emulator is calibrated
to serve millisecond-scale CNNs and transformers. The emulator needs only a model's graph
statistics (`Workload`: FLOPs and activation bytes per item, weight bytes, kernel count), so
these are stored, not their weights, and the repository stays small. Sources:

- FLOPs are twice the published multiply-accumulates per item: torchvision's model cards for
  ResNet-50 (4.09 G), ViT-B/16 (17.56 G) and EfficientNet-B0 (0.39 G); BERT-base at sequence
  128 counted from its shapes (12 layers of 4 d^2 + 2 d x 3072 weights per token, d = 768, plus
  attention's 2 x 128^2 x d); Ultralytics' YOLOv5s (16.5 GFLOPs at 640 x 640); the
  recommendation MLP is MLPerf's DLRM's dense part (bottom 13-512-256-128, top
  479-1024-1024-512-256-1).
- Weight bytes are FP32 parameter counts from the same sources (25.6 M, 110 M, 86.6 M, 5.3 M,
  7.2 M, 2.4 M).
- Activation bytes per item sum every operator's output at FP32 (ReLU, Add and normalisation
  outputs included, as an ONNX graph has them), counted from each architecture's layer shapes;
  YOLOv5s's is an estimate at the same granularity. DLRM's includes its 26 embedding lookups.
- Kernels are the operator counts of the models' ONNX exports (BatchNorm folded into Conv,
  SiLU as Sigmoid and Mul), rounded.

Every figure derived from these is an emulation, not a measurement.
"""

from __future__ import annotations

from emulation.workload import Workload
from interfleet.graph_features import GraphFeatures

_M = 1e6
REALISTIC: dict[str, Workload] = {
    w.model: w
    for w in (
        Workload("resnet50", 8.18e9, 25.6 * _M * 4, 26.4 * _M * 4, 122),
        Workload("bert_base", 22.4e9, 110 * _M * 4, 26.1 * _M * 4, 470),
        Workload("vit_b16", 35.1e9, 86.6 * _M * 4, 44.2 * _M * 4, 440),
        Workload("efficientnet_b0", 0.78e9, 5.3 * _M * 4, 23.2 * _M * 4, 254),
        Workload("yolov5s", 16.5e9, 7.2 * _M * 4, 50.0 * _M * 4, 270),
        Workload("rec_mlp", 4.7e6, 2.4 * _M * 4, 0.012 * _M * 4, 22),
    )
}
MAX_BATCH_SIZE = 32  # what a serving config would allow these models
# Shares of FLOPs in convolutions and in matrix products (the predictor's graph features).
OPERATOR_MIX = {
    "resnet50": (0.99, 0.01),
    "bert_base": (0.0, 0.98),
    "vit_b16": (0.01, 0.97),
    "efficientnet_b0": (0.96, 0.01),
    "yolov5s": (0.99, 0.0),
    "rec_mlp": (0.0, 1.0),
}


def graph_features(model: str, batch: int) -> GraphFeatures | None:
    """What the predictor would read off the model's graph at `batch`; None if not in the set."""
    w = REALISTIC.get(model)
    if w is None:
        return None
    conv, matmul = OPERATOR_MIX[model]
    flops, activations = w.flops(batch), w.activation_bytes(batch)
    return GraphFeatures(
        flops,
        w.param_bytes,
        activations,
        conv,
        matmul,
        1 - conv - matmul,
        flops / (w.param_bytes + activations),
        w.kernels,
    )
