"""Running a service process: logging, the uvloop event loop, the collector, and stop-on-signal.

A service is anything with `async start()` and `async stop(grace)`. SIGINT or SIGTERM triggers
`stop(grace)`, which each service begins by reporting NOT_SERVING. Once it has started, its heap
is settled (`settle_heap`): a server's request path allocates many short-lived containers and
makes few cycles, so the cyclic collector's defaults cost it CPU for nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
from typing import Protocol

import uvloop

# CPython collects generation 0 every 700 net container allocations: every few requests on a
# router (tuples, futures, protobuf wrappers), and each older pass walks the whole heap, which
# after start is mostly long-lived (models, graph features, protobuf descriptors). Measured in
# `make bench-decision`: the collector took a quarter of an interference-aware decision.
GC_THRESHOLDS = (20_000, 50, 100)


def settle_heap() -> None:
    """Collect once, hide everything alive now from later collections (`gc.freeze`) and collect
    less often: what a long-running server does once it has loaded what it serves."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self, grace: float) -> None: ...


def add_service_arguments(parser: argparse.ArgumentParser, config_help: str) -> None:
    """The flags every service process takes; each config reads them by their dest names."""
    parser.add_argument("--config", help=config_help)
    parser.add_argument("--redis-url", dest="redis_url")
    parser.add_argument("--fleet", help="Redis key namespace of the fleet")
    parser.add_argument("--ready-file", dest="ready_file", help="write the bound addresses here once serving")
    parser.add_argument("--log-level", dest="log_level")
    parser.add_argument("--grace", type=float, default=10.0, help="seconds in-flight work gets on shutdown")


class _ClientGoneFilter(logging.Filter):
    """gRPC's asyncio server logs an ERROR with a traceback whenever it cannot send an answer
    because the client has gone (its deadline passed, or it cancelled): an ordinary event for a
    server whose clients set deadlines, which every status metric already counts. Said once."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("ExecuteBatchError raised in core"):
            return True
        self.dropped += 1
        if self.dropped == 1:
            logging.getLogger(__name__).info(
                "an answer could not be sent: the client had gone (deadline passed or cancelled); "
                "further such events are not logged"
            )
        return False


def configure_logging(level: str, name: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s",
    )
    logging.getLogger("grpc._cython.cygrpc").addFilter(_ClientGoneFilter())


async def serve_until_signalled(service: Service, grace: float) -> None:
    """Start `service`, serve until SIGINT or SIGTERM, then stop it. A signal that arrives while
    it is still starting (a worker warming up its models) cancels the start and stops it at once,
    rather than after the start has run its course."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    starting = asyncio.ensure_future(service.start())
    signalled = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({starting, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # a failed start raises here
            settle_heap()
            await signalled
        else:
            logging.getLogger(__name__).info("stop requested while starting: stopping")
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
    finally:
        signalled.cancel()
        await service.stop(grace)


def run_service(service: Service, grace: float) -> None:
    uvloop.run(serve_until_signalled(service, grace))
