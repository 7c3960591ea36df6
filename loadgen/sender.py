"""The open-loop sender: requests go out at their scheduled times, whatever the responses do.

Each request's latency is measured from its *scheduled* send time, so a slow server cannot hide
queueing behind a sender that waits (coordinated omission). The sender also measures its own
lag (actual minus scheduled send time): if that grows, the generator is the bottleneck, and the
report says so.

Timers on an event loop have millisecond resolution, so the sender sleeps until about a
millisecond before a request is due and then yields to the loop (which keeps handling
responses) until the moment arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc.aio as tc_aio
from tritonclient.utils import InferenceServerException

from loadgen.schedule import Schedule

COARSE_SLEEP_MARGIN_S = 0.0015
START_LEAD_S = 0.25


@dataclass
class Outcomes:
    """Per-request results, as arrays indexed like the schedule."""

    send_lag_s: np.ndarray
    latency_s: np.ndarray  # from scheduled send time to response; NaN if never answered
    status: list[str]  # "OK" or a gRPC status name
    worker: list[str]
    started_at: float = 0.0  # unix time of the schedule's zero, to line runs up with outside events

    @classmethod
    def empty(cls, n: int) -> Outcomes:
        return cls(np.full(n, np.nan), np.full(n, np.nan), ["NOT_SENT"] * n, [""] * n)


def status_name(error: InferenceServerException) -> str:
    status = error.status() or "UNKNOWN"
    return status.removeprefix("StatusCode.")


async def send_schedule(
    client: tc_aio.InferenceServerClient,
    schedule: Schedule,
    inputs: dict[str, list],
    use_deadline: bool,
    outcomes: Outcomes,
    clock: Callable[[], float] = time.perf_counter,
    headers: dict[str, str] | None = None,
) -> None:
    start = clock() + START_LEAD_S
    outcomes.started_at = time.time() + START_LEAD_S
    pending: set[asyncio.Task] = set()
    counters = dict.fromkeys(schedule.models, 0)

    async def one(i: int, due: float) -> None:
        model = schedule.models[schedule.model_index[i]]
        variants = inputs[model]
        counters[model] += 1
        timeout = schedule.slo_ms[i] / 1e3 if use_deadline else None
        outcomes.send_lag_s[i] = clock() - due
        try:
            result = await client.infer(
                model,
                variants[counters[model] % len(variants)],
                request_id=str(i),
                client_timeout=timeout,
                headers=headers,
            )
            outcomes.status[i] = "OK"
            outcomes.worker[i] = result.get_response().parameters["worker_id"].string_param
        except InferenceServerException as error:
            outcomes.status[i] = status_name(error)
        outcomes.latency_s[i] = clock() - due

    for i, offset in enumerate(schedule.times):
        due = start + float(offset)
        wait = due - clock()
        if wait > COARSE_SLEEP_MARGIN_S:
            await asyncio.sleep(wait - COARSE_SLEEP_MARGIN_S)
        while clock() < due:
            await asyncio.sleep(0)
        task = asyncio.create_task(one(i, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        await asyncio.wait(pending)
