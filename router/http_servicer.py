"""The router's KServe v2 HTTP/REST routes. Like the gRPC servicer it only translates: an HTTP
request in, a call on the same Dispatcher, JSON (and binary tensors) out.

An inference body becomes the very `ModelInferRequest` a gRPC client would send
(`interfleet.kserve.http_tensors`), so routing, retries, deadlines (the `timeout` parameter, in
microseconds, or the router's `default_timeout_s`) and statistics are the gRPC path's.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from aiohttp import web
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput, Unavailable, Unimplemented
from interfleet.kserve.call import server_metadata
from interfleet.kserve.http_endpoint import error_response, json_response
from interfleet.kserve.http_json import as_json, config_json, index_json
from interfleet.kserve.http_tensors import HEADER_LENGTH, infer_response_body, parse_infer_body
from router.dispatcher import Dispatcher
from router.repository import NO_PLANNER, FleetRepository

MODEL = "/v2/models/{model}"
MODEL_VERSION = "/v2/models/{model}/versions/{version}"
NOT_OFFERED = {
    "/v2/systemsharedmemory{tail:.*}": "system shared memory (send tensors in the request body)",
    "/v2/cudasharedmemory{tail:.*}": "CUDA shared memory (send tensors in the request body)",
    "/v2/trace{tail:.*}": "trace settings",
    "/v2/logging": "log settings",
}


def is_inference(request: web.Request) -> bool:
    return request.path.endswith("/infer")


def is_repository_change(request: web.Request) -> bool:
    return request.path.startswith("/v2/repository/models/")


def _ok(ready: bool, what: str) -> web.Response:
    # Triton answers readiness with the status alone: 200 ready, 400 not.
    return web.Response(status=200) if ready else error_response(400, f"{what} is not ready")


class RouterHttpServicer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        draining: Callable[[], bool] = lambda: False,
        repository: FleetRepository | None = None,
    ):
        self._dispatcher = dispatcher
        self._draining = draining
        self._repository = repository

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/health/live", self.live)
        app.router.add_get("/v2/health/ready", self.ready)
        app.router.add_get("/v2", self.server_metadata)
        app.router.add_get("/v2/models/stats", self.statistics)
        app.router.add_post("/v2/repository/index", self.index)
        app.router.add_post("/v2/repository/models/{model}/load", self.load)
        app.router.add_post("/v2/repository/models/{model}/unload", self.unload)
        for path, what in NOT_OFFERED.items():
            app.router.add_route("*", path, self._not_offered(what))
        for base in (MODEL, MODEL_VERSION):
            app.router.add_get(base, self.metadata)
            app.router.add_get(base + "/ready", self.model_ready)
            app.router.add_get(base + "/config", self.config)
            app.router.add_get(base + "/stats", self.statistics)
            app.router.add_post(base + "/infer", self.infer)

    @staticmethod
    def _not_offered(what: str):
        async def handler(request: web.Request) -> web.Response:
            raise Unimplemented(f"{what} is not implemented by interfleet ({request.method} {request.path})")

        return handler

    @staticmethod
    def _model(request: web.Request) -> tuple[str, str]:
        return request.match_info.get("model", ""), request.match_info.get("version", "")

    async def live(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def ready(self, request: web.Request) -> web.Response:
        if self._draining():
            return error_response(400, "the router is shutting down")
        return _ok(self._dispatcher.ready, "the fleet (no worker in view)")

    async def server_metadata(self, request: web.Request) -> web.Response:
        return json_response(as_json(server_metadata("interfleet")))

    async def metadata(self, request: web.Request) -> web.Response:
        return json_response(as_json(self._dispatcher.metadata(*self._model(request))))

    async def model_ready(self, request: web.Request) -> web.Response:
        name, version = self._model(request)
        return _ok(self._dispatcher.model_ready(name, version), f"model '{name}'")

    async def config(self, request: web.Request) -> web.Response:
        return json_response(config_json(self._dispatcher.config(*self._model(request))))

    async def statistics(self, request: web.Request) -> web.Response:
        answer = await self._dispatcher.statistics(*self._model(request), None)
        return json_response(as_json(answer))

    async def index(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            ready_only = bool(json.loads(body).get("ready", False)) if body.strip() else False
        except (ValueError, AttributeError):
            raise InvalidInput(
                'the repository index request must be a JSON object, e.g. {"ready": true}'
            ) from None
        models = index_json(self._dispatcher.index())
        return json_response([m for m in models if m["state"] == "READY"] if ready_only else models)

    async def load(self, request: web.Request) -> web.Response:
        if self._repository is None:
            raise Unavailable(NO_PLANNER)
        await self._repository.load(self._model(request)[0])
        return web.Response(status=200)

    async def unload(self, request: web.Request) -> web.Response:
        if self._repository is None:
            raise Unavailable(NO_PLANNER)
        await self._repository.unload(self._model(request)[0])
        return web.Response(status=200)

    async def infer(self, request: web.Request) -> web.Response:
        name, version = self._model(request)
        self._dispatcher.check_model(name, version)  # an unknown model is 404 whatever the body
        body = await request.read()
        infer_request, output_format = parse_infer_body(
            body, request.headers.get(HEADER_LENGTH), name, version
        )
        answer = await self._dispatcher.infer(infer_request.SerializeToString(), infer_request, None)
        out, header_length = infer_response_body(
            service_pb2.ModelInferResponse.FromString(answer), output_format
        )
        if header_length is None:
            response = web.Response(body=out, content_type="application/json")
        else:
            response = web.Response(
                body=out, content_type="application/octet-stream", headers={HEADER_LENGTH: str(header_length)}
            )
        accepts = request.headers.get("Accept-Encoding", "")
        if "gzip" in accepts or "deflate" in accepts:  # tritonclient's response_compression_algorithm
            response.enable_compression()
        return response
