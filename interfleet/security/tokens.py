"""Bearer-token authentication for the router's client port, as a gRPC server interceptor.

Clients send gRPC metadata `authorization: Bearer <token>` (tritonclient: `headers=`). Tokens
come from a file (one per line, `#` comments; a line may add a scope after the token) or the
environment. Scopes:

- `infer` (the default): every call;
- `read`: metadata, readiness, statistics and the repository index, never inference nor a
  change to the repository (load, unload); such a call with a read token is PERMISSION_DENIED.

No or an unknown token is UNAUTHENTICATED. Tokens are held as SHA-256 digests and the presented
one is compared against every digest with `hmac.compare_digest`, so the time taken says nothing
about how much of a token was right. The standard health service stays open: orchestrators
probe it without credentials.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from pathlib import Path

import grpc

from interfleet.errors import ConfigError

SCOPES = ("infer", "read")
OPEN_SERVICES = ("/grpc.health.v1.Health/",)
# Calls a `read` token may not make: running a model, and changing which models the fleet serves.
_NOT_READ = (
    "/inference.GRPCInferenceService/ModelInfer",
    "/inference.GRPCInferenceService/ModelStreamInfer",
    "/inference.GRPCInferenceService/RepositoryModelLoad",
    "/inference.GRPCInferenceService/RepositoryModelUnload",
)


def load_tokens(tokens: Iterable[str], tokens_file: str | None) -> dict[bytes, str]:
    """Token digest -> scope, from inline tokens (scope infer) and a tokens file."""
    entries = [(token, "infer") for token in tokens if token]
    if tokens_file:
        try:
            lines = Path(tokens_file).read_text().splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read tokens file {tokens_file}: {exc.strerror}") from None
        for number, line in enumerate(lines, 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) > 2 or (len(words) == 2 and words[1] not in SCOPES):
                raise ConfigError(f"{tokens_file}:{number}: expected 'TOKEN [{'|'.join(SCOPES)}]'")
            entries.append((words[0], words[1] if len(words) == 2 else "infer"))
    return {hashlib.sha256(token.encode()).digest(): scope for token, scope in entries}


class TokenAuth(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: dict[bytes, str]):
        if not tokens:
            raise ValueError("token authentication needs at least one token")
        self._tokens = list(tokens.items())

    def scope_of(self, header: str | None) -> str | None:
        """The scope of the token in an `authorization` header value; None if it is not a known one."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():  # RFC 6750: the scheme is case-insensitive
            return None
        digest = hashlib.sha256(token.strip().encode()).digest()
        scope = None
        for known, known_scope in self._tokens:  # no early exit: constant time over the set
            if hmac.compare_digest(digest, known):
                scope = known_scope
        return scope

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        method = details.method
        if method.startswith(OPEN_SERVICES):
            return await continuation(details)
        header = next(
            (value for key, value in details.invocation_metadata or () if key == "authorization"), None
        )
        scope = self.scope_of(header)
        if scope is None:
            why = "missing 'authorization: Bearer <token>' metadata" if not header else "invalid token"
            return await _refusal(continuation, details, grpc.StatusCode.UNAUTHENTICATED, why)
        if scope == "read" and method in _NOT_READ:
            return await _refusal(
                continuation,
                details,
                grpc.StatusCode.PERMISSION_DENIED,
                f"a '{scope}' token may not call {method.rsplit('/', 1)[1]}",
            )
        return await continuation(details)


async def _refusal(continuation, details, code: grpc.StatusCode, message: str):
    """A handler that refuses without running the method, and without reading its request.

    It is request-streaming whatever the method's kind (the wire is the same; only the server's
    reading differs), and aborts before taking a message: a unary handler would first read the
    whole request, so 300 concurrent 12 MiB calls without a token once held 4 GB of bodies the
    router was about to refuse. Unread, a body stays with the transport's flow-control window.
    """
    handler = await continuation(details)
    if handler is None:
        return None

    async def refuse(requests, context):
        await context.abort(code, message)

    make = (
        grpc.stream_stream_rpc_method_handler
        if handler.response_streaming
        else grpc.stream_unary_rpc_method_handler
    )
    return make(refuse, request_deserializer=None, response_serializer=handler.response_serializer)
