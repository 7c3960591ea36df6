"""Open-loop load for the chaos run: Poisson arrivals at a rate that can change mid-run, and
what became of every request.

Each request carries its SLO as the KServe `timeout` parameter, so the fleet must answer within
it (served, or refused saying why). The client's gRPC deadline is the SLO plus LOST_AFTER_S: a request
with no answer by then is counted lost, the failure the fleet must never have.

The generator must never be the limit it measures, so it is as light as a client can be: it
sends pre-serialized ModelInferRequests over one gRPC channel that balances over both routers
(`interfleet.kserve.client_channel`, the channel a tritonclient user is told to use), reads
back only the status (the serving worker is read from the replies after the run), and runs on a
core of its own. It sends on
schedule by yielding to the event loop (never sleeping past a send) within `SPIN_S` of the next
one; how late each send still went out is recorded, and a run whose p99 send lag exceeds
`VALID_SEND_LAG_MS` is invalid (report.py), since requests it failed to send on time say
nothing about the fleet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc
import numpy as np
from tritonclient.grpc import service_pb2

from interfleet.kserve.client_channel import channel_args, target
from loadgen.inputs import random_inputs

LOST_AFTER_S = 1.0
SPIN_S = 0.002  # closer than this to the next send, yield instead of sleeping (timers are 1 ms coarse)
MODEL_INFER = "/inference.GRPCInferenceService/ModelInfer"


@dataclass
class Outcomes:
    sent_at: list[float] = field(default_factory=list)  # seconds since the run began
    model: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)  # "OK", a gRPC status name, or "LOST"
    latency_ms: list[float] = field(default_factory=list)
    worker: list[str] = field(default_factory=list)
    # Actual minus scheduled send time: when it grows, the load generator itself is saturated.
    send_lag_ms: list[float] = field(default_factory=list)
    message: list[str] = field(default_factory=list)  # the error's text ("" when served)
    reply: list[bytes] = field(default_factory=list)  # serialized responses, read after the run

    def read_replies(self) -> None:
        """Fill `worker` from the replies (the router names the serving worker in a parameter), off
        the sending path, and let the bytes go."""
        for index, reply in enumerate(self.reply):
            if reply:
                response = service_pb2.ModelInferResponse.FromString(reply)
                self.worker[index] = response.parameters["worker_id"].string_param
        self.reply = []


class Load:
    def __init__(self, addresses: list[str], models: dict[str, float], seed: int = 0):
        self._target = target(addresses)
        self._slo_s = models  # model -> SLO seconds
        self._rng = np.random.default_rng(seed)
        self._requests: dict[str, list[bytes]] = {}
        # One channel for every run, connected to both routers before the first: a run that opened
        # its own would time its first requests against connection set-up.
        self._channel: grpc.aio.Channel | None = None

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def prepare(self) -> None:
        """Connect, and serialize a few requests per model, random inputs shaped from its metadata,
        each carrying the model's SLO as its KServe timeout."""
        self._channel = channel = grpc.aio.insecure_channel(self._target, options=channel_args())
        await asyncio.wait_for(channel.channel_ready(), 30)
        metadata = channel.unary_unary(
            "/inference.GRPCInferenceService/ModelMetadata",
            request_serializer=service_pb2.ModelMetadataRequest.SerializeToString,
            response_deserializer=service_pb2.ModelMetadataResponse.FromString,
        )
        for model, slo_s in self._slo_s.items():
            reply = await metadata(service_pb2.ModelMetadataRequest(name=model), timeout=10)
            self._requests[model] = []
            for inputs in random_inputs(reply, self._rng):
                request = service_pb2.ModelInferRequest(model_name=model)
                for tensor in inputs:
                    request.inputs.append(tensor._get_tensor())
                    request.raw_input_contents.append(tensor._get_content())
                request.parameters["timeout"].int64_param = int(slo_s * 1e6)
                self._requests[model].append(request.SerializeToString())

    async def capacity_at_slo(self, attainment: float = 0.99, probe_s: float = 3.0, steps: int = 7) -> float:
        """The highest open-loop rate at which `attainment` of requests are served within their SLO
        (PPipe's "max load at 99% attainment"), by bisection below the closed-loop throughput."""
        low, high = 0.0, await self.throughput()
        for _ in range(steps):
            rate = (low + high) / 2
            outcomes = Outcomes()
            await self.run(probe_s, lambda t, rate=rate: rate, outcomes, lambda t: None)
            served = sum(1 for s in outcomes.status if s == "OK") / max(1, len(outcomes.status))
            low, high = (rate, high) if served >= attainment else (low, rate)
            await asyncio.sleep(0.5)
        return low

    async def throughput(self, seconds: float = 3.0, callers: int = 24) -> float:
        """Requests per second the fleet serves back to back (closed loop), over the model mix; the
        requests still carry their SLO as their timeout, so some are refused, and not counted."""
        models = list(self._slo_s)
        done = 0
        stop_at = time.monotonic() + seconds
        infer = self._channel.unary_unary(MODEL_INFER)

        async def caller(index: int) -> None:
            nonlocal done
            sent = 0
            while time.monotonic() < stop_at:
                model = models[(index + sent) % len(models)]
                sent += 1
                try:
                    await infer(self._requests[model][0], timeout=5)
                except grpc.aio.AioRpcError:
                    continue
                done += 1

        await asyncio.gather(*(caller(i) for i in range(callers)))
        return done / seconds

    async def run(
        self,
        duration_s: float,
        rate: Callable[[float], float],
        outcomes: Outcomes,
        events: Callable[[float], None],
    ) -> None:
        """Send for `duration_s` at `rate(t)` per second; `events(t)` is called every 50 ms (faults)."""
        models = list(self._slo_s)
        pending: set[asyncio.Task] = set()
        infer = self._channel.unary_unary(MODEL_INFER)
        start = time.monotonic()
        next_send = 0.0
        next_event = 0.0
        while (now := time.monotonic() - start) < duration_s:
            if now >= next_event:
                events(now)
                next_event = now + 0.05
            if now < next_send:
                ahead = min(next_send, next_event) - now
                await asyncio.sleep(0 if ahead < SPIN_S else ahead - SPIN_S)
                continue
            model = models[int(self._rng.integers(len(models)))]
            index = len(outcomes.sent_at)
            for column, value in (
                (outcomes.sent_at, now),
                (outcomes.model, model),
                (outcomes.status, ""),
                (outcomes.latency_ms, 0.0),
                (outcomes.worker, ""),
                (outcomes.send_lag_ms, (now - next_send) * 1e3),
                (outcomes.message, ""),
                (outcomes.reply, b""),
            ):
                column.append(value)
            task = asyncio.ensure_future(self._one(infer, model, index, outcomes))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_send += self._rng.exponential(1.0 / max(rate(now), 1e-6))
        await asyncio.gather(*pending)
        outcomes.read_replies()

    async def _one(self, infer, model: str, index: int, outcomes: Outcomes) -> None:
        # The client's own gRPC deadline is when a request counts as lost: the fleet answers within
        # the SLO (its KServe timeout) or says why, so a DEADLINE_EXCEEDED this late is no answer.
        slo_s = self._slo_s[model]
        variants = self._requests[model]
        started = time.perf_counter()
        try:
            outcomes.reply[index] = await infer(variants[index % len(variants)], timeout=slo_s + LOST_AFTER_S)
            outcomes.status[index] = "OK"
        except grpc.aio.AioRpcError as error:
            code = error.code()
            late = time.perf_counter() - started >= slo_s + LOST_AFTER_S * 0.99
            outcomes.status[index] = (
                "LOST" if code == grpc.StatusCode.DEADLINE_EXCEEDED and late else code.name
            )
            outcomes.message[index] = error.details() or ""
        outcomes.latency_ms[index] = (time.perf_counter() - started) * 1e3
