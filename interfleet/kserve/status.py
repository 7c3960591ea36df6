"""The one place where domain errors become gRPC statuses.

Unary handlers are wrapped by `maps_errors` when the service is registered
(`interfleet.kserve.service`); streams report per-request errors in-band through
`stream_error_message`, as Triton does, so one bad request does not end the stream.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import grpc

from interfleet.errors import Code, ServingError

log = logging.getLogger(__name__)


def grpc_code(code: Code) -> grpc.StatusCode:
    """The gRPC status of a domain code (they share names and numbers)."""
    return grpc.StatusCode[code.name]


def domain_code(code: grpc.StatusCode) -> Code:
    """The domain code of a gRPC status, for errors passed on from another service."""
    return Code.of_name(code.name)


def code_of(exc: BaseException) -> grpc.StatusCode:
    """The status code that classifies `exc` (INTERNAL for anything unexpected)."""
    if isinstance(exc, ServingError):
        return grpc_code(exc.code)
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code()
    return grpc.StatusCode.INTERNAL


def status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client should see for `exc`."""
    if isinstance(exc, ServingError):
        return grpc_code(exc.code), exc.message
    if isinstance(exc, grpc.aio.AioRpcError):  # a worker's status, passed through as it was
        return exc.code(), exc.details() or exc.code().name
    log.error("unexpected error while serving a request", exc_info=exc)
    return grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"


def maps_errors(handler: Callable[..., Awaitable]) -> Callable[..., Awaitable]:
    """Wrap a unary aio handler so that raised errors abort the call with their status."""

    @functools.wraps(handler)
    async def wrapper(request, context: grpc.aio.ServicerContext):
        try:
            return await handler(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every error gets a status, none escapes raw
            code, message = status_of(exc)
            await context.abort(code, message)

    return wrapper


def stream_error_message(exc: BaseException) -> str:
    """The `error_message` of a ModelStreamInferResponse: status name and message."""
    code, message = status_of(exc)
    return f"[{code.name}] {message}"
