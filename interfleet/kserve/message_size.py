"""The largest message a server needs to accept, from the largest request its models allow.

A request's size is bounded when every input has fixed non-batch dimensions and a fixed-width
datatype: max_batch_size x elements x bytes per element, summed over inputs. The cap is the
largest such bound over the repository, with room for protobuf framing and for integers sent as
varints in typed contents, and never above the ceiling. A model with a dynamic dimension or
BYTES input has no bound, and then the ceiling applies. A model whose config or graph cannot
be read is left out of the bound and reported: it is its worker's to refuse, and the router
must not fail to start over a model it may never route to.

That cap is the transport's, for the whole repository. `request_cap` bounds one model's
requests the same way from the record its workers publish, so the router refuses a request
larger than any valid one for its model before forwarding it (a 12 MiB request for a model
whose largest valid request is 32 KB would otherwise reach a worker).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError
from onnx import helper

from interfleet.kserve.datatypes import NUMPY_DTYPE
from interfleet.proto import fleet_pb2
from interfleet.repository import RepositoryError, list_models, load_spec

log = logging.getLogger(__name__)

FRAMING_BYTES = 1 << 20
VARINT_ALLOWANCE = 1.25  # an INT64 element sent as a varint takes up to 10 bytes for 8


def largest_request_bytes(repository: Path) -> int | None:
    """The largest request (in tensor bytes) any readable model of `repository` accepts; None if unbounded."""
    largest = 0
    for name in list_models(repository):
        try:
            spec = load_spec(repository, name)
            graph = onnx.load(str(spec.path), load_external_data=False).graph
        except (
            RepositoryError,
            OSError,
            DecodeError,
            onnx.onnx_cpp2py_export.checker.ValidationError,
        ) as exc:
            log.warning("model %s cannot be read, so requests for it are not sized (%s)", name, exc)
            continue
        initializers = {i.name for i in graph.initializer}
        size = 0
        for tensor in graph.input:
            if tensor.name in initializers:
                continue
            kind = tensor.type.tensor_type
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim]
            dims = dims[1:] if spec.max_batch_size > 0 else dims  # past the batch axis, if any
            if kind.elem_type == onnx.TensorProto.STRING or any(d <= 0 for d in dims):
                return None
            itemsize = helper.tensor_dtype_to_np_dtype(kind.elem_type).itemsize
            size += spec.batch_limit * math.prod(dims) * itemsize
        largest = max(largest, size)
    return largest or None


def request_cap(model: fleet_pb2.HostedModel) -> int | None:
    """The most bytes a serialized request for `model` can need; None when its inputs are unbounded."""
    size = 0
    for spec in model.inputs:
        dims = list(spec.shape[1:]) if model.max_batch_size > 0 else list(spec.shape)
        itemsize = NUMPY_DTYPE[spec.datatype].itemsize if spec.datatype in NUMPY_DTYPE else None
        if itemsize is None or any(d < 0 for d in dims):
            return None
        size += max(1, model.max_batch_size) * math.prod(dims) * itemsize
    return int(size * VARINT_ALLOWANCE) + FRAMING_BYTES


def message_cap(repository: Path, ceiling: int) -> int:
    largest = largest_request_bytes(repository) if repository.is_dir() else None
    if largest is None:
        return ceiling
    return min(ceiling, int(largest * VARINT_ALLOWANCE) + FRAMING_BYTES)
