"""Request tensors in, response tensors out: KServe v2 messages <-> numpy, with validation.

Every check happens before a request is queued, so a malformed request fails alone with
INVALID_ARGUMENT naming the input and what was expected, and never reaches a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput
from interfleet.kserve.datatypes import CONTENTS_FIELD, NUMPY_DTYPE


@dataclass(frozen=True)
class TensorSpec:
    """An input or output as the model declares it; -1 marks a dynamic axis (axis 0 is the batch)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class DecodedRequest:
    feeds: dict[str, np.ndarray]
    batch_size: int
    outputs: tuple[str, ...]  # requested outputs, in the order to return them


def decode_request(
    request: service_pb2.ModelInferRequest,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    max_batch_size: int,
) -> DecodedRequest:
    model = request.model_name
    expected = {spec.name: spec for spec in inputs}
    seen: dict[str, np.ndarray] = {}
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInput(
            f"model '{model}': {len(request.inputs)} inputs but {len(raw)} raw_input_contents; "
            "send raw contents for every input or for none"
        )
    for position, tensor in enumerate(request.inputs):
        spec = expected.get(tensor.name)
        if spec is None:
            raise InvalidInput(
                f"model '{model}' has no input '{tensor.name}' (inputs: {', '.join(expected)})"
            )
        if tensor.name in seen:
            raise InvalidInput(f"model '{model}': input '{tensor.name}' is given twice")
        seen[tensor.name] = _decode_tensor(model, tensor, spec, raw[position] if raw else None)
    missing = [name for name in expected if name not in seen]
    if missing:
        raise InvalidInput(f"model '{model}': missing input(s) {', '.join(missing)}")

    batch_sizes = {array.shape[0] for array in seen.values()}
    if len(batch_sizes) != 1:
        raise InvalidInput(
            f"model '{model}': inputs disagree on the batch size: "
            + ", ".join(f"{n}={a.shape[0]}" for n, a in seen.items())
        )
    (batch_size,) = batch_sizes
    if batch_size < 1 or batch_size > max_batch_size:
        raise InvalidInput(
            f"model '{model}': batch size {batch_size} is outside 1..{max_batch_size} "
            "(the model's max_batch_size)"
        )
    return DecodedRequest(seen, batch_size, _requested_outputs(request, outputs))


def _decode_tensor(
    model: str, tensor: service_pb2.ModelInferRequest.InferInputTensor, spec: TensorSpec, raw: bytes | None
) -> np.ndarray:
    where = f"model '{model}' input '{tensor.name}'"
    if tensor.datatype != spec.datatype:
        raise InvalidInput(
            f"{where}: datatype {tensor.datatype or '(empty)'} but the model expects {spec.datatype}"
        )
    shape = tuple(tensor.shape)
    if (
        len(shape) != len(spec.shape)
        or any(want != -1 and got != want for got, want in zip(shape, spec.shape))
        or any(d < 0 for d in shape)
    ):
        raise InvalidInput(
            f"{where}: shape {list(shape)} does not match the model's {list(spec.shape)} (-1 is any size)"
        )
    dtype = NUMPY_DTYPE.get(spec.datatype)
    if dtype is None:
        raise InvalidInput(f"{where}: datatype {spec.datatype} is not supported by this worker")
    count = math.prod(shape)  # exact: numpy's int64 product wraps for shapes beyond 2^63 elements
    if raw is not None:
        if len(raw) != count * dtype.itemsize:
            raise InvalidInput(
                f"{where}: raw_input_contents holds {len(raw)} bytes but shape {list(shape)} "
                f"of {spec.datatype} needs {count * dtype.itemsize}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(shape)
    field = CONTENTS_FIELD.get(spec.datatype)
    if field is None:
        raise InvalidInput(f"{where}: {spec.datatype} can only be sent as raw_input_contents")
    values = getattr(tensor.contents, field)
    if len(values) != count:
        raise InvalidInput(
            f"{where}: contents.{field} holds {len(values)} values but shape {list(shape)} needs {count}"
        )
    return np.asarray(values, dtype=dtype).reshape(shape)


def _requested_outputs(
    request: service_pb2.ModelInferRequest, outputs: Sequence[TensorSpec]
) -> tuple[str, ...]:
    names = [spec.name for spec in outputs]
    if not request.outputs:
        return tuple(names)
    chosen = []
    for wanted in request.outputs:
        if wanted.name not in names:
            raise InvalidInput(
                f"model '{request.model_name}' has no output '{wanted.name}' (outputs: {', '.join(names)})"
            )
        if wanted.name not in chosen:
            chosen.append(wanted.name)
    return tuple(chosen)


@dataclass(frozen=True)
class EncodedTensor:
    """An output ready for the wire; built in the execution thread to keep the event loop light."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    data: bytes


def encode_response(
    request: service_pb2.ModelInferRequest, version: str, tensors: Sequence[EncodedTensor]
) -> service_pb2.ModelInferResponse:
    response = service_pb2.ModelInferResponse(
        model_name=request.model_name, model_version=version, id=request.id
    )
    for tensor in tensors:
        response.outputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
        response.raw_output_contents.append(tensor.data)
    return response
