"""Request tensors in, response tensors out: KServe v2 messages <-> numpy, with validation.

Every check happens before a request is queued, so a malformed request fails alone with
INVALID_ARGUMENT naming the input and what was expected, and never reaches a batch.

A model without a batch axis (max_batch_size 0) is served through `unbatched.UnbatchedSession`:
its requests' tensors gain the worker's leading axis of one here, and its answers lose it in
`LoadedModel.encode`. BYTES elements are decoded to numpy objects: `str` when they are UTF-8
text (what ONNX Runtime's string tensors take), else a clear INVALID_ARGUMENT.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput
from interfleet.kserve.datatypes import BYTES, CONTENTS_FIELD, NUMPY_DTYPE, deserialize_bytes


@dataclass(frozen=True)
class TensorSpec:
    """An input or output as the worker runs it; -1 marks a dynamic axis (axis 0 is the batch)."""

    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class DecodedRequest:
    feeds: dict[str, np.ndarray]
    batch_size: int
    outputs: tuple[str, ...]  # requested outputs, in the order to return them
    class_counts: dict[str, int] = field(default_factory=dict)  # outputs asked for as top-k classes


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
        seen[tensor.name] = _decode_tensor(
            model, tensor, spec, raw[position] if raw else None, batched=max_batch_size > 0
        )
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
    wanted, class_counts = _requested_outputs(request, outputs)
    if max_batch_size == 0:
        return DecodedRequest(seen, 1, wanted, class_counts)
    if batch_size < 1 or batch_size > max_batch_size:
        raise InvalidInput(
            f"model '{model}': batch size {batch_size} is outside 1..{max_batch_size} "
            "(the model's max_batch_size)"
        )
    return DecodedRequest(seen, batch_size, wanted, class_counts)


def _decode_tensor(
    model: str,
    tensor: service_pb2.ModelInferRequest.InferInputTensor,
    spec: TensorSpec,
    raw: bytes | None,
    batched: bool = True,
) -> np.ndarray:
    where = f"model '{model}' input '{tensor.name}'"
    if tensor.datatype != spec.datatype:
        raise InvalidInput(
            f"{where}: datatype {tensor.datatype or '(empty)'} but the model expects {spec.datatype}"
        )
    # A model without a batch axis: the request's tensor is one item of the worker's leading axis.
    shape = tuple(tensor.shape) if batched else (1, *tensor.shape)
    if (
        len(shape) != len(spec.shape)
        or any(want != -1 and got != want for got, want in zip(shape, spec.shape))
        or any(d < 0 for d in shape)
    ):
        declared = list(spec.shape) if batched else list(spec.shape[1:])
        raise InvalidInput(
            f"{where}: shape {list(tensor.shape)} does not match the model's {declared} (-1 is any size)"
        )
    if raw is not None and tensor.HasField("contents"):
        raise InvalidInput(
            f"unexpected explicit tensor data for input tensor '{tensor.name}' for model '{model}', "
            "binary data was already supplied (send raw_input_contents or typed contents, not both)"
        )
    if spec.datatype == BYTES:
        return _decode_bytes(where, tensor, shape, raw)
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


def _decode_bytes(
    where: str,
    tensor: service_pb2.ModelInferRequest.InferInputTensor,
    shape: tuple[int, ...],
    raw: bytes | None,
) -> np.ndarray:
    elements = deserialize_bytes(raw, where) if raw is not None else list(tensor.contents.bytes_contents)
    count = math.prod(shape)
    if len(elements) != count:
        source = "raw_input_contents" if raw is not None else "contents.bytes_contents"
        raise InvalidInput(
            f"{where}: {source} holds {len(elements)} BYTES elements but shape {list(tensor.shape)} needs {count}"
        )
    try:
        texts = [element.decode() for element in elements]
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{where}: a BYTES element is not UTF-8 text, which the model's string input needs"
        ) from None
    array = np.empty(count, dtype=np.object_)
    array[:] = texts
    return array.reshape(shape)


CLASSIFICATION = "classification"  # Triton's requested-output parameter: return the top k classes


def _requested_outputs(
    request: service_pb2.ModelInferRequest, outputs: Sequence[TensorSpec]
) -> tuple[tuple[str, ...], dict[str, int]]:
    """The outputs to return, in order, and the class count of each asked for as classes."""
    names = [spec.name for spec in outputs]
    if not request.outputs:
        return tuple(names), {}
    chosen, class_counts = [], {}
    for wanted in request.outputs:
        if wanted.name not in names:
            raise InvalidInput(
                f"model '{request.model_name}' has no output '{wanted.name}' (outputs: {', '.join(names)})"
            )
        if wanted.name not in chosen:
            chosen.append(wanted.name)
        if CLASSIFICATION in wanted.parameters:
            parameter = wanted.parameters[CLASSIFICATION]
            count = parameter.int64_param or parameter.uint64_param
            if count < 1:
                raise InvalidInput(
                    f"output '{wanted.name}': parameter 'classification' must be a positive integer class count"
                )
            class_counts[wanted.name] = count
    return tuple(chosen), class_counts


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
