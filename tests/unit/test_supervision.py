"""Supervised loops: errors are logged, counted and survived; repeated ones flip health and back."""

import asyncio

from interfleet.supervision import Supervisor, loop_metrics


async def no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


async def test_a_loop_goes_on_after_errors_and_health_follows_its_streak():
    health: list[bool] = []

    async def report(serving: bool) -> None:
        health.append(serving)

    supervisor = Supervisor(fail_after=3, on_health=report, sleep=no_wait)
    outcomes = iter(
        [ValueError("one"), KeyError("two"), RuntimeError("three"), RuntimeError("four"), None, None]
    )
    passes = []
    done = asyncio.Event()

    async def body() -> None:
        outcome = next(outcomes, None)
        passes.append(outcome)
        if len(passes) == 6:
            done.set()
        if outcome is not None:
            raise outcome

    supervisor.loop("flaky", body)
    await asyncio.wait_for(done.wait(), 5)
    await supervisor.stop()
    assert supervisor.errors["flaky"] == 4
    assert health == [False, True]  # NOT_SERVING at the third error in a row, SERVING after a clean pass
    assert supervisor.healthy and not supervisor.failing
    metrics = {m.name: {s.labels["loop"]: s.value for s in m.samples} for m in loop_metrics(supervisor)}
    assert metrics == {"interfleet_loop_errors": {}, "interfleet_loop_failing": {}}  # stopped loops are gone


async def test_a_failing_loop_is_reported_while_it_fails():
    supervisor = Supervisor(fail_after=2, sleep=no_wait)
    handled = []

    async def body() -> None:
        raise RuntimeError("always")

    supervisor.loop("broken", body, on_error=handled.append)
    for _ in range(100):
        if supervisor.errors["broken"] >= 3:
            break
        await asyncio.sleep(0)
    failing = {
        s.labels["loop"]: s.value
        for m in loop_metrics(supervisor)
        for s in m.samples
        if m.name == "interfleet_loop_failing"
    }
    await supervisor.stop()
    assert failing == {"broken": 1} and not supervisor.healthy
    assert len(handled) >= 3 and all(isinstance(e, RuntimeError) for e in handled)
