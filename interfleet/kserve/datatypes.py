"""KServe v2 tensor datatypes: their numpy dtypes, the typed `contents` field of each, and BYTES.

BYTES (variable-length strings, ONNX's string tensors) has no fixed-size numpy dtype: its
elements are numpy objects (`bytes`), and in raw contents (gRPC `raw_*_contents`, HTTP's binary
extension) each is a 4-byte little-endian length followed by its bytes, as Triton lays them out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from interfleet.errors import InvalidInput

BYTES = "BYTES"

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
    BYTES: "bytes_contents",
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
    "tensor(string)": BYTES,
}

# v2 datatype -> Triton model-config DataType enum name (for the ModelConfig RPC).
MODEL_CONFIG_TYPE: dict[str, str] = {**{name: f"TYPE_{name}" for name in NUMPY_DTYPE}, BYTES: "TYPE_STRING"}


def serialize_bytes(elements: Sequence[bytes]) -> bytes:
    """BYTES elements as raw contents: each a 4-byte little-endian length, then its bytes."""
    return b"".join(len(e).to_bytes(4, "little") + e for e in elements)


def deserialize_bytes(raw: bytes, where: str) -> list[bytes]:
    """Raw BYTES contents as their elements; InvalidInput naming `where` if they are cut short."""
    elements, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise InvalidInput(f"{where}: BYTES contents end inside an element's 4-byte length")
        size = int.from_bytes(raw[offset : offset + 4], "little")
        offset += 4
        if offset + size > len(raw):
            raise InvalidInput(f"{where}: a BYTES element of {size} bytes runs past the end of the contents")
        elements.append(bytes(raw[offset : offset + size]))
        offset += size
    return elements


def as_bytes(element: object) -> bytes:
    """One BYTES element as bytes (ONNX Runtime hands string outputs back as str)."""
    if isinstance(element, bytes):
        return element
    if isinstance(element, np.bytes_):
        return bytes(element)
    return str(element).encode()


def tensor_bytes(array: np.ndarray) -> bytes:
    """An array as raw contents: its little-endian bytes, or serialized BYTES for object arrays."""
    if array.dtype == np.object_ or array.dtype.kind in "SU":
        return serialize_bytes([as_bytes(e) for e in array.reshape(-1)])
    return np.ascontiguousarray(array).tobytes()


def zeros(shape: Sequence[int], datatype: str) -> np.ndarray:
    """A tensor of zeros, e.g. to warm a model up; for BYTES the text "0", which models that take
    text and models that parse numbers from it (ONNX Cast) both accept."""
    if datatype == BYTES:
        return np.full(tuple(shape), "0", dtype=np.object_)
    return np.zeros(tuple(shape), NUMPY_DTYPE[datatype])
