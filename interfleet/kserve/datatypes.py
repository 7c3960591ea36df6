"""KServe v2 tensor datatypes: their numpy dtypes and the typed `contents` field of each.

BYTES (variable-length strings) is not in the table: no model in the zoo takes strings, and the
worker rejects it with a message rather than guessing at a layout.
"""

from __future__ import annotations

import numpy as np

# v2 datatype -> numpy dtype (little-endian, as raw_*_contents are laid out).
NUMPY_DTYPE: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}

# v2 datatype -> InferTensorContents field that carries it when a client sends typed contents.
# FP16 has no typed field in the protocol: it travels only as raw_input_contents.
CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
}

# ONNX Runtime's type strings (session.get_inputs()[i].type) -> v2 datatype.
FROM_ONNXRUNTIME: dict[str, str] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
}

# v2 datatype -> Triton model-config DataType enum name (for the ModelConfig RPC).
MODEL_CONFIG_TYPE: dict[str, str] = {name: f"TYPE_{name}" for name in NUMPY_DTYPE}
