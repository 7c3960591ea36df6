"""Open-loop load for the chaos run: Poisson arrivals at a rate that can change mid-run, and
what became of every request.

Each request carries its SLO as the KServe `timeout` parameter, so the fleet must answer within
it (served, or refused saying why). The client sets no gRPC deadline of its own: it waits up to
the SLO plus LOST_AFTER_S, and a request with no answer by then is counted lost, the failure
the fleet must never have.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import tritonclient.grpc.aio as tc_aio
from tritonclient.utils import InferenceServerException

from loadgen.inputs import random_inputs

LOST_AFTER_S = 1.0
# Reconnect at once when the router comes back, instead of gRPC's backoff of up to two minutes.
CHANNEL_ARGS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


@dataclass
class Outcomes:
    sent_at: list[float] = field(default_factory=list)  # seconds since the run began
    model: list[str] = field(default_factory=list)
    status: list[str] = field(default_factory=list)  # "OK", a gRPC status name, or "LOST"
    latency_ms: list[float] = field(default_factory=list)
    worker: list[str] = field(default_factory=list)
    # Actual minus scheduled send time: when it grows, the load generator itself is saturated.
    send_lag_ms: list[float] = field(default_factory=list)


class Load:
    def __init__(self, address: str, models: dict[str, float], seed: int = 0):
        self._address = address
        self._slo_s = models  # model -> SLO seconds
        self._rng = np.random.default_rng(seed)
        self._inputs: dict[str, list] = {}

    async def prepare(self) -> None:
        client = tc_aio.InferenceServerClient(self._address, channel_args=CHANNEL_ARGS)
        for model in self._slo_s:
            self._inputs[model] = random_inputs(await client.get_model_metadata(model), self._rng)
        await client.close()

    async def capacity_at_slo(self, attainment: float = 0.99, probe_s: float = 3.0, steps: int = 6) -> float:
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
        """Requests per second the fleet answers back to back (closed loop), over the model mix."""
        client = tc_aio.InferenceServerClient(self._address, channel_args=CHANNEL_ARGS)
        models = list(self._slo_s)
        done = 0
        stop_at = time.monotonic() + seconds

        async def caller(index: int) -> None:
            nonlocal done
            while time.monotonic() < stop_at:
                model = models[(index + done) % len(models)]
                await client.infer(model, self._inputs[model][0])
                done += 1

        await asyncio.gather(*(caller(i) for i in range(callers)))
        await client.close()
        return done / seconds

    async def run(
        self,
        duration_s: float,
        rate: Callable[[float], float],
        outcomes: Outcomes,
        events: Callable[[float], None],
    ) -> None:
        """Send for `duration_s` at `rate(t)` per second; `events(t)` is called every 50 ms (faults)."""
        client = tc_aio.InferenceServerClient(self._address, channel_args=CHANNEL_ARGS)
        models = list(self._slo_s)
        pending: set[asyncio.Task] = set()
        start = time.monotonic()
        next_send = 0.0
        next_event = 0.0
        while (now := time.monotonic() - start) < duration_s:
            if now >= next_event:
                events(now)
                next_event = now + 0.05
            if now < next_send:
                await asyncio.sleep(min(next_send - now, max(0.0, next_event - now)))
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
            ):
                column.append(value)
            task = asyncio.ensure_future(self._one(client, model, index, outcomes))
            pending.add(task)
            task.add_done_callback(pending.discard)
            next_send += self._rng.exponential(1.0 / max(rate(now), 1e-6))
        await asyncio.gather(*pending)
        await client.close()

    async def _one(self, client, model: str, index: int, outcomes: Outcomes) -> None:
        slo_s = self._slo_s[model]
        inputs = self._inputs[model][index % len(self._inputs[model])]
        started = time.perf_counter()
        call = asyncio.ensure_future(client.infer(model, inputs, timeout=int(slo_s * 1e6)))
        try:
            result = await asyncio.wait_for(asyncio.shield(call), slo_s + LOST_AFTER_S)
            outcomes.status[index] = "OK"
            outcomes.worker[index] = result.get_response().parameters["worker_id"].string_param
        except TimeoutError:
            call.cancel()
            outcomes.status[index] = "LOST"
        except InferenceServerException as error:
            outcomes.status[index] = (error.status() or "StatusCode.UNKNOWN").removeprefix("StatusCode.")
        outcomes.latency_ms[index] = (time.perf_counter() - started) * 1e3
