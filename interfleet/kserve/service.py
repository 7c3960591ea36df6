"""Register an implementation of inference.GRPCInferenceService on a grpc.aio server.

The method table is derived from the service descriptor tritonclient ships, so the protocol is
exactly Triton's. A servicer implements what it supports; every other method answers
UNIMPLEMENTED with a message. Methods named in `raw_methods` receive and return serialized
bytes, which lets the router forward tensors it never decodes.

Requests are parsed here rather than by gRPC's deserializer: a message that does not parse is
answered INVALID_ARGUMENT naming the expected type, where gRPC would answer UNKNOWN.

With a `budget` (`byte_budget`), ModelInfer reserves room before its request is read: it is
served as a request-streaming method (the same on the wire) that waits for room, then reads its
one message, so a body waits unread while the server holds its budget's worth of requests.
"""

from __future__ import annotations

from collections.abc import Collection

import grpc
from google.protobuf.message import DecodeError
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput, Overloaded, Unimplemented
from interfleet.kserve.byte_budget import COPIES, ByteBudget
from interfleet.kserve.status import maps_errors

SERVICE_NAME = "inference.GRPCInferenceService"
_SERVICE = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]


def method_path(name: str) -> str:
    return f"/{SERVICE_NAME}/{name}"


def _parsing(impl, request_cls):
    """`impl` taking a parsed request, as a handler taking the request's bytes."""

    async def handler(raw: bytes, context):
        try:
            request = request_cls.FromString(raw)
        except DecodeError as exc:
            raise InvalidInput(f"request is not a valid {request_cls.DESCRIPTOR.full_name}: {exc}") from None
        return await impl(request, context)

    return handler


def _budgeted(impl, budget: ByteBudget, read_bytes: int):
    """Raw unary `impl` as a stream-unary handler that reads its request only once room is held."""

    async def handler(requests, context):
        remaining = context.time_remaining()
        wait_s = budget.wait_s if remaining is None else min(budget.wait_s, max(remaining, 0.0))
        held = await budget.acquire(read_bytes * COPIES, wait_s)
        if not held:
            raise Overloaded(budget.refusal(COPIES, wait_s))
        try:
            raw = await context.read()
            if raw is grpc.aio.EOF:
                raise InvalidInput("the call carried no request message")
            held = budget.resize(held, len(raw) * COPIES)
            return await impl(raw, context)
        finally:
            budget.release(held)

    return handler


def _unimplemented(name: str):
    async def handler(request, context):
        raise Unimplemented(f"{name} is not implemented by interfleet")

    return handler


def add_inference_service(
    server: grpc.aio.Server,
    servicer: object,
    raw_methods: Collection[str] = (),
    budget: ByteBudget | None = None,
    max_message_bytes: int = 0,
) -> None:
    handlers = {}
    for method in _SERVICE.methods:
        impl = getattr(servicer, method.name, None)
        raw = method.name in raw_methods
        request_cls = getattr(service_pb2, method.input_type.name)
        response_cls = getattr(service_pb2, method.output_type.name)
        serialize = None if raw else response_cls.SerializeToString
        if method.client_streaming or method.server_streaming:
            if impl is None:
                continue  # the only streaming method, ModelStreamInfer, is always implemented
            if not raw:
                raise ValueError(
                    f"{method.name} must take raw bytes (raw_methods), so a bad message "
                    "is answered in-band rather than ending the stream"
                )
            handlers[method.name] = grpc.stream_stream_rpc_method_handler(impl, response_serializer=serialize)
        elif budget is not None and raw and method.name == "ModelInfer":
            handlers[method.name] = grpc.stream_unary_rpc_method_handler(
                maps_errors(_budgeted(impl, budget, max_message_bytes)), response_serializer=serialize
            )
        else:
            impl = impl or _unimplemented(method.name)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(
                maps_errors(impl if raw else _parsing(impl, request_cls)), response_serializer=serialize
            )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
