"""Domain errors that carry their gRPC status.

Domain code raises these; `interfleet.kserve.status` is the one place that turns them into a
gRPC status (or a stream error message). Anything else that escapes a handler is INTERNAL.
"""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """An error a client should see, with the status code that classifies it."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ModelNotFound(ServingError):
    code = grpc.StatusCode.NOT_FOUND


class InvalidInput(ServingError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unavailable(ServingError):
    code = grpc.StatusCode.UNAVAILABLE


class Overloaded(ServingError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(ServingError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(ServingError):
    """A bug on the serving side, answered rather than left hanging."""

    code = grpc.StatusCode.INTERNAL


class Unimplemented(ServingError):
    code = grpc.StatusCode.UNIMPLEMENTED


class RemoteError(ServingError):
    """An error another service of the fleet answered with (a worker, to the router), passed on as it was."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
