"""Background loops that outlive their bugs, and a service health that tells when one cannot.

Every service runs loops beside its request path: the router re-reads the fleet, the worker
heartbeats and runs batches, the predictor reads records and retrains. An exception that escapes
an asyncio task ends it silently, and the service goes on answering health checks while, say,
its view of the fleet never changes again. So each loop runs under a `Supervisor`:

- an unexpected error is logged with its traceback, counted (`errors[loop]`, exported as a
  metric), and the loop goes on after a short backoff that doubles while the errors repeat;
- after `fail_after` errors in a row the loop counts as failing, and the service's health flips
  to NOT_SERVING (through `on_health`) until every failing loop has had a clean pass again.

Expected failures (Redis unreachable) stay the loop's own business: it handles them and returns
normally, so they neither count here nor flip health.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


class Supervisor:
    """The loops of one service, their error counts, and whether the service should serve."""

    def __init__(
        self,
        fail_after: int = 5,
        on_health: Callable[[bool], Awaitable[None]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.fail_after = fail_after
        self.errors: collections.Counter[str] = collections.Counter()
        self.failing: set[str] = set()
        self.on_health = on_health
        self._sleep = sleep
        self._loops: list[SupervisedLoop] = []

    @property
    def names(self) -> list[str]:
        return [loop.name for loop in self._loops]

    @property
    def healthy(self) -> bool:
        return not self.failing

    def loop(
        self,
        name: str,
        body: Callable[[], Awaitable[None]],
        every_s: float = 0.0,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> SupervisedLoop:
        """A loop that awaits `body()` every `every_s` seconds (back to back when 0), started now."""
        supervised = SupervisedLoop(self, name, body, every_s, on_error)
        self._loops.append(supervised)
        supervised.start()
        return supervised

    async def stop_loop(self, name: str) -> None:
        for loop in [loop for loop in self._loops if loop.name == name]:
            await loop.stop()
            self._loops.remove(loop)

    async def stop(self) -> None:
        await asyncio.gather(*(loop.stop() for loop in self._loops))
        self._loops.clear()

    async def _failed(self, name: str, in_a_row: int) -> float:
        """Count an error; returns the backoff before the next pass."""
        self.errors[name] += 1
        if in_a_row >= self.fail_after and name not in self.failing:
            was_healthy = self.healthy
            self.failing.add(name)
            log.error(
                "loop %s failed %d times in a row: service health is NOT_SERVING until it recovers",
                name,
                in_a_row,
            )
            if was_healthy:
                await self._tell(False)
        return min(MAX_BACKOFF_S, 0.05 * 2 ** (in_a_row - 1))

    async def _passed(self, name: str) -> None:
        if name in self.failing:
            self.failing.discard(name)
            log.info("loop %s recovered", name)
            if self.healthy:
                await self._tell(True)

    async def _tell(self, serving: bool) -> None:
        if self.on_health is not None:
            try:
                await self.on_health(serving)
            except Exception:
                log.exception("could not set health to %s", "SERVING" if serving else "NOT_SERVING")


class SupervisedLoop:
    """One named loop under a `Supervisor`; see the module docstring for what it survives."""

    def __init__(
        self,
        supervisor: Supervisor,
        name: str,
        body: Callable[[], Awaitable[None]],
        every_s: float,
        on_error: Callable[[BaseException], None] | None,
    ):
        self.name = name
        self._supervisor = supervisor
        self._body = body
        self._every_s = every_s
        self._on_error = on_error
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout_s: float = 1.0) -> None:
        """Cancel the loop; a stop must end, so a pass stuck in a call that ignores cancellation
        (seen with a client library mid-read) is waited on for `timeout_s` at most, then left."""
        if self._task is not None:
            self._task.cancel()
            _, stuck = await asyncio.wait([self._task], timeout=timeout_s)
            if stuck:
                log.warning(
                    "loop %s did not stop within %.1f s of being cancelled; left behind", self.name, timeout_s
                )
            self._task = None

    async def _run(self) -> None:
        supervisor = self._supervisor
        in_a_row = 0
        while True:
            # Back to back, a pass that happens not to await would starve the event loop: yield once.
            if self._every_s:
                await supervisor._sleep(self._every_s)
            else:
                await asyncio.sleep(0)
            try:
                await self._body()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                in_a_row += 1
                log.exception("loop %s: unexpected error (%d in a row); it goes on", self.name, in_a_row)
                if self._on_error is not None:
                    try:
                        self._on_error(exc)
                    except Exception:
                        log.exception("loop %s: its error handler failed too", self.name)
                await supervisor._sleep(await supervisor._failed(self.name, in_a_row))
                continue
            if in_a_row:
                in_a_row = 0
                await supervisor._passed(self.name)


def loop_metrics(supervisor: Supervisor) -> Iterator[Metric]:
    """The supervisor's state for a service's /metrics collector."""
    errors = CounterMetricFamily(
        "interfleet_loop_errors", "Unexpected errors in a background loop (it went on)", labels=["loop"]
    )
    failing = GaugeMetricFamily(
        "interfleet_loop_failing",
        "1 while a background loop keeps failing (health is NOT_SERVING meanwhile)",
        labels=["loop"],
    )
    for loop in supervisor.names:
        errors.add_metric([loop], supervisor.errors[loop])
        failing.add_metric([loop], int(loop in supervisor.failing))
    yield from (errors, failing)
