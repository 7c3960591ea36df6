"""Domain errors that carry their status, free of gRPC.

Domain code raises these; `interfleet.kserve.status` is the one place that turns them into a
gRPC status (or a stream error message). Anything else that escapes a handler is INTERNAL.
The codes are the canonical status codes that gRPC and the KServe v2 protocol share, named and
numbered as gRPC names and numbers them, so pure layers (policies, the router core, the
simulator) can raise and compare them without importing grpc.
"""

from __future__ import annotations

import enum


class Code(enum.Enum):
    """A canonical status code (gRPC's names and numbers)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    @classmethod
    def of_number(cls, number: int) -> Code:
        """The code numbered `number` (UNKNOWN for a number no code has)."""
        try:
            return cls(number)
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def of_name(cls, name: str) -> Code:
        """The code named `name` (UNKNOWN for a name no code has)."""
        return cls.__members__.get(name, cls.UNKNOWN)


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names where it came from."""


class ServingError(Exception):
    """An error a client should see, with the status code that classifies it."""

    code: Code = Code.INTERNAL

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ModelNotFound(ServingError):
    code = Code.NOT_FOUND


class InvalidInput(ServingError):
    code = Code.INVALID_ARGUMENT


class Unavailable(ServingError):
    code = Code.UNAVAILABLE


class Overloaded(ServingError):
    code = Code.RESOURCE_EXHAUSTED


class DeadlineExceeded(ServingError):
    code = Code.DEADLINE_EXCEEDED


class Internal(ServingError):
    """A bug on the serving side, answered rather than left hanging."""

    code = Code.INTERNAL


class Unimplemented(ServingError):
    code = Code.UNIMPLEMENTED


class RemoteError(ServingError):
    """An error another service of the fleet answered with (a worker, to the router), passed on as it was."""

    def __init__(self, code: Code, message: str):
        super().__init__(message)
        self.code = code
