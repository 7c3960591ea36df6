"""KServe v2 HTTP inference bodies, to and from the gRPC messages the fleet forwards.

A request body is JSON, or (Triton's binary tensor extension) JSON followed by raw tensor bytes,
the JSON's length in the `Inference-Header-Content-Length` header and each binary input's size
in its `binary_data_size` parameter. Either way it becomes one `ModelInferRequest` with every
input in `raw_input_contents`, exactly what a gRPC client would send, so the router forwards it
through the same dispatcher. BYTES elements travel as Triton lays them out in raw contents: each
a 4-byte little-endian length, then its bytes.

The response goes back as JSON, with an output's tensor as raw bytes after the JSON where the
request asked for it (`binary_data` on that output, else `binary_data_output` on the request,
which tritonclient sets when it names no outputs). JSON data is flattened in row-major order, as
Triton answers it.

Everything wrong with a body is an InvalidInput naming the input or field and what was wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput
from interfleet.kserve.datatypes import BYTES, CONTENTS_FIELD, NUMPY_DTYPE, deserialize_bytes, serialize_bytes

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_SIZE = "binary_data_size"
# Parameters of the HTTP protocol itself: said in JSON, never forwarded as request parameters.
_HTTP_ONLY = ("binary_data_output", BINARY_SIZE, "binary_data")


@dataclass(frozen=True)
class OutputFormat:
    """How the client wants each output back: raw bytes after the JSON, or JSON data."""

    binary_by_default: bool = False
    binary: Mapping[str, bool] = field(default_factory=dict)

    def is_binary(self, name: str) -> bool:
        return self.binary.get(name, self.binary_by_default)


# --- parameters -------------------------------------------------------------------------------


def set_parameter(target: service_pb2.InferParameter, key: str, value: Any) -> None:
    """A JSON parameter value as a gRPC InferParameter (bool, int64, double or string)."""
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise InvalidInput(f"parameter '{key}': {value} does not fit in an int64")
        target.int64_param = value
    elif isinstance(value, float):
        target.double_param = value
    elif isinstance(value, str):
        target.string_param = value
    else:
        raise InvalidInput(
            f"parameter '{key}' must be a boolean, number or string, not {type(value).__name__}"
        )


def parameter_value(parameter: service_pb2.InferParameter) -> Any:
    """A gRPC InferParameter as its JSON value."""
    kind = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, kind) if kind else None


def _copy_parameters(source: Any, target, where: str) -> None:
    if source is None:
        return
    if not isinstance(source, dict):
        raise InvalidInput(f"{where} 'parameters' must be a JSON object, not {type(source).__name__}")
    for key, value in source.items():
        if key not in _HTTP_ONLY:
            set_parameter(target[key], key, value)


# --- requests ---------------------------------------------------------------------------------


def _shape(tensor: dict, where: str) -> list[int]:
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InvalidInput(f"{where}: 'shape' must be a list of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise InvalidInput(f"{where}: shape {shape} has a negative dimension")
    return shape


def _bytes_element(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bool, int, float)):  # Triton accepts numbers for BYTES, as their text
        return json.dumps(value).encode()
    raise InvalidInput(f"{where}: a BYTES element must be a string, not {type(value).__name__}")


def _flatten(data: Any) -> list:
    if not isinstance(data, list):
        return [data]
    flat: list = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _json_data(tensor: dict, datatype: str, count: int, where: str) -> bytes:
    """An input's JSON `data` (flat or nested) as raw contents."""
    values = _flatten(tensor["data"])
    if len(values) != count:
        raise InvalidInput(
            f"{where}: shape {tensor['shape']} needs {count} elements, 'data' has {len(values)}"
        )
    if datatype == BYTES:
        return serialize_bytes([_bytes_element(v, where) for v in values])
    dtype = NUMPY_DTYPE[datatype]
    if datatype == "BOOL":
        if not all(isinstance(v, bool) for v in values):
            raise InvalidInput(f"{where}: BOOL data must be true or false")
    elif dtype.kind in "iu":
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise InvalidInput(f"{where}: {datatype} data must be integers")
        info = np.iinfo(dtype)
        if values and (min(values) < info.min or max(values) > info.max):
            raise InvalidInput(f"{where}: a value is outside {datatype}'s range {info.min}..{info.max}")
    elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise InvalidInput(f"{where}: {datatype} data must be numbers")
    return np.asarray(values, dtype=dtype).tobytes()


def parse_infer_body(
    body: bytes, header_length: str | None, model_name: str, model_version: str = ""
) -> tuple[service_pb2.ModelInferRequest, OutputFormat]:
    """An HTTP inference body as the ModelInferRequest a gRPC client would send, and the outputs' format."""
    if header_length is None:
        json_size = len(body)
    else:
        try:
            json_size = int(header_length)
        except ValueError:
            raise InvalidInput(f"header {HEADER_LENGTH} must be an integer, got {header_length!r}") from None
        if not 0 <= json_size <= len(body):
            raise InvalidInput(f"header {HEADER_LENGTH} is {json_size}, but the body has {len(body)} bytes")
    try:
        document = json.loads(body[:json_size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the request's JSON does not parse: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"the request must be a JSON object, not {type(document).__name__}")
    request = service_pb2.ModelInferRequest(model_name=model_name, model_version=model_version)
    request.id = str(document.get("id", ""))
    parameters = document.get("parameters") or {}
    _copy_parameters(parameters, request.parameters, "the request's")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("the request needs 'inputs', a non-empty list of tensors")
    binary = memoryview(body)[json_size:]
    offset = 0
    for position, tensor in enumerate(inputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise InvalidInput(f"input {position} must be an object with a 'name'")
        where = f"input '{tensor['name']}'"
        datatype = tensor.get("datatype")
        if datatype != BYTES and datatype not in NUMPY_DTYPE:
            known = ", ".join([*NUMPY_DTYPE, BYTES])
            raise InvalidInput(f"{where}: datatype {datatype!r} is not one of {known}")
        shape = _shape(tensor, where)
        entry = request.inputs.add(name=tensor["name"], datatype=datatype, shape=shape)
        own = tensor.get("parameters") or {}
        _copy_parameters(own, entry.parameters, where)
        size = own.get(BINARY_SIZE) if isinstance(own, dict) else None
        count = math.prod(shape)
        if size is not None:
            if "data" in tensor:
                raise InvalidInput(f"{where}: has both 'data' and the binary_data_size parameter")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise InvalidInput(f"{where}: binary_data_size must be a non-negative integer, got {size!r}")
            if offset + size > len(binary):
                raise InvalidInput(
                    f"{where}: binary_data_size {size} runs past the end of the body "
                    f"({len(binary) - offset} bytes of binary data left)"
                )
            request.raw_input_contents.append(bytes(binary[offset : offset + size]))
            offset += size
        elif "data" in tensor:
            request.raw_input_contents.append(_json_data(tensor, datatype, count, where))
        else:
            raise InvalidInput(f"{where}: has neither 'data' nor the binary_data_size parameter")
    if offset != len(binary):
        raise InvalidInput(f"the body has {len(binary) - offset} bytes of binary data no input claims")
    return request, _output_format(document, parameters, request)


def _output_format(document: dict, parameters: dict, request: service_pb2.ModelInferRequest) -> OutputFormat:
    default = parameters.get("binary_data_output", False) if isinstance(parameters, dict) else False
    outputs = document.get("outputs") or []
    if not isinstance(outputs, list):
        raise InvalidInput("'outputs' must be a list of objects naming the outputs wanted")
    binary = {}
    for position, tensor in enumerate(outputs):
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise InvalidInput(f"output {position} must be an object with a 'name'")
        entry = request.outputs.add(name=tensor["name"])
        own = tensor.get("parameters") or {}
        _copy_parameters(own, entry.parameters, f"output '{tensor['name']}'")
        if isinstance(own, dict) and "binary_data" in own:
            binary[tensor["name"]] = bool(own["binary_data"])
    return OutputFormat(bool(default), binary)


# --- responses --------------------------------------------------------------------------------


def _output_bytes(response: service_pb2.ModelInferResponse, index: int) -> bytes:
    """An output's tensor as raw contents, whether the worker sent it raw or typed."""
    if response.raw_output_contents:
        return response.raw_output_contents[index]
    output = response.outputs[index]
    if output.datatype == BYTES:
        return serialize_bytes(list(output.contents.bytes_contents))
    values = getattr(output.contents, CONTENTS_FIELD[output.datatype])
    return np.asarray(values, dtype=NUMPY_DTYPE[output.datatype]).tobytes()


def _as_json_data(raw: bytes, datatype: str, name: str) -> list:
    if datatype == BYTES:
        try:
            return [element.decode() for element in deserialize_bytes(raw, f"output '{name}'")]
        except UnicodeDecodeError:
            raise InvalidInput(
                f"output '{name}' holds bytes that are not UTF-8 text: ask for it with binary_data=true"
            ) from None
    return np.frombuffer(raw, dtype=NUMPY_DTYPE[datatype]).tolist()


def infer_response_body(
    response: service_pb2.ModelInferResponse, output_format: OutputFormat
) -> tuple[bytes, int | None]:
    """The HTTP body of an inference answer, and the JSON's length when binary outputs follow it."""
    document: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    if response.id:
        document["id"] = response.id
    if response.parameters:
        document["parameters"] = {k: parameter_value(v) for k, v in response.parameters.items()}
    outputs, blobs = [], []
    for index, output in enumerate(response.outputs):
        entry: dict[str, Any] = {
            "name": output.name,
            "datatype": output.datatype,
            "shape": list(output.shape),
        }
        parameters = {k: parameter_value(v) for k, v in output.parameters.items()}
        raw = _output_bytes(response, index)
        if output_format.is_binary(output.name):
            parameters[BINARY_SIZE] = len(raw)
            blobs.append(raw)
        else:
            entry["data"] = _as_json_data(raw, output.datatype, output.name)
        if parameters:
            entry["parameters"] = parameters
        outputs.append(entry)
    document["outputs"] = outputs
    header = json.dumps(document, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)
