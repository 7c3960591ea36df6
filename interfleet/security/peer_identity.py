"""Who may call a fleet service: mutual TLS proves a caller's certificate was signed by the
fleet's CA, and this interceptor also requires its identity (the common name `<role>/<name>`
that `interfleet certs` writes, see `identity`) to match one of `allowed`, by default `router/*`:
any router, plus, for the methods under a prefix of `also`, the identities given there. A worker
admits routers, and the planner to WorkerControl (it loads and unloads models; it cannot infer);
the planner admits routers to PlannerControl. So neither the client certificate made for
tritonclient users nor another service's can reach a worker or move a model directly, bypassing
the router's tokens and scopes. The standard health service and the `open` methods (the
planner's read-only GetPlan) stay open to any certificate the TLS layer admitted. A refused
call is PERMISSION_DENIED naming the certificate.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping

import grpc

from interfleet.security.identity import matches

OPEN_SERVICES = ("/grpc.health.v1.Health/",)
ROUTERS = "router/*"


def common_names(context: grpc.aio.ServicerContext) -> list[str]:
    return [name.decode(errors="replace") for name in context.auth_context().get("x509_common_name", [])]


class PeerIdentity(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        allowed: Iterable[str] = (ROUTERS,),
        also: Mapping[str, Iterable[str]] | None = None,
        open_methods: Iterable[str] = (),
        service: str = "a worker",
    ):
        self._allowed = tuple(allowed)
        self._also = {prefix: tuple(patterns) for prefix, patterns in (also or {}).items()}
        self._open = (*OPEN_SERVICES, *open_methods)
        self._service = service
        self._admitted_by_method: dict[str, tuple[str, ...]] = {}

    def _admitted(self, method: str) -> tuple[str, ...]:
        """The identities admitted to `method`, worked out once per method (a service has few)."""
        admitted = self._admitted_by_method.get(method)
        if admitted is None:
            extra = [
                p for prefix, patterns in self._also.items() if method.startswith(prefix) for p in patterns
            ]
            admitted = self._admitted_by_method[method] = (*self._allowed, *extra)
        return admitted

    def _refusal(self, context: grpc.aio.ServicerContext, admitted: tuple[str, ...]) -> str | None:
        names = common_names(context)
        if any(matches(pattern, name) for pattern in admitted for name in names):
            return None
        shown = ", ".join(repr(n) for n in names) or "no certificate name"
        return (
            f"only {', '.join(admitted)} may call {self._service} here; "
            f"the caller's certificate ({shown}) is not one"
        )

    async def intercept_service(self, continuation, details: grpc.HandlerCallDetails):
        handler = await continuation(details)
        if handler is None or details.method.startswith(self._open):
            return handler
        admitted = self._admitted(details.method)

        def check(context: grpc.aio.ServicerContext) -> str | None:
            return self._refusal(context, admitted)

        serializers = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:

            async def unary_unary(request, context):
                if (why := check(context)) is not None:
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
                return await handler.unary_unary(request, context)

            return grpc.unary_unary_rpc_method_handler(unary_unary, **serializers)
        for kind in ("stream_stream", "unary_stream"):
            behaviour = getattr(handler, kind)
            if behaviour is None:
                continue
            make = getattr(grpc, f"{kind}_rpc_method_handler")
            if inspect.isasyncgenfunction(behaviour):

                async def streaming(request_or_requests, context, behaviour=behaviour):
                    if (why := check(context)) is not None:
                        await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
                    async for response in behaviour(request_or_requests, context):
                        yield response

                return make(streaming, **serializers)

            async def writing(request_or_requests, context, behaviour=behaviour):  # answers by context.write
                if (why := check(context)) is not None:
                    await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
                return await behaviour(request_or_requests, context)

            return make(writing, **serializers)

        async def stream_unary(requests, context):
            if (why := check(context)) is not None:
                await context.abort(grpc.StatusCode.PERMISSION_DENIED, why)
            return await handler.stream_unary(requests, context)

        return grpc.stream_unary_rpc_method_handler(stream_unary, **serializers)
