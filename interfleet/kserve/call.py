"""Small facts about a KServe v2 call that both servers need: its deadline, the server's metadata."""

from __future__ import annotations

import time

import grpc
from google.protobuf.message import DecodeError
from tritonclient.grpc import service_pb2

from interfleet import __version__
from interfleet.errors import InvalidInput

EXTENSIONS = ["model_repository", "statistics", "parameters"]


def deadline_of(context: grpc.aio.ServicerContext) -> float | None:
    """The call's gRPC deadline as a time.monotonic() value (None when the client set none)."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


TIMEOUT_PARAMETER = "timeout"  # Triton's per-request timeout parameter, in microseconds


def request_deadline(
    request: service_pb2.ModelInferRequest, deadline: float | None, now: float
) -> float | None:
    """The earlier of the call's deadline and the request's own `timeout` parameter (microseconds)."""
    if TIMEOUT_PARAMETER not in request.parameters:
        return deadline
    parameter = request.parameters[TIMEOUT_PARAMETER]
    timeout_us = parameter.int64_param or parameter.uint64_param
    if timeout_us <= 0:
        raise InvalidInput("parameter 'timeout' must be a positive int64 number of microseconds")
    own = now + timeout_us / 1e6
    return own if deadline is None else min(own, deadline)


def server_metadata(name: str) -> service_pb2.ServerMetadataResponse:
    return service_pb2.ServerMetadataResponse(name=name, version=__version__, extensions=EXTENSIONS)


def parse_infer_request(raw: bytes) -> service_pb2.ModelInferRequest:
    try:
        return service_pb2.ModelInferRequest.FromString(raw)
    except DecodeError as exc:
        raise InvalidInput(f"request is not a valid ModelInferRequest: {exc}") from exc
