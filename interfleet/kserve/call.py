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


def server_metadata(name: str) -> service_pb2.ServerMetadataResponse:
    return service_pb2.ServerMetadataResponse(name=name, version=__version__, extensions=EXTENSIONS)


def parse_infer_request(raw: bytes) -> service_pb2.ModelInferRequest:
    try:
        return service_pb2.ModelInferRequest.FromString(raw)
    except DecodeError as exc:
        raise InvalidInput(f"request is not a valid ModelInferRequest: {exc}") from exc
