"""A live progress bar (rich): elapsed time, sent, answered, recent p99 and errors."""

from __future__ import annotations

import asyncio

import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from loadgen.schedule import Schedule
from loadgen.sender import Outcomes

REFRESH_S = 0.25
RECENT_S = 2.0


class ProgressDisplay:
    def __init__(self, schedule: Schedule, outcomes: Outcomes):
        self._schedule = schedule
        self._outcomes = outcomes
        self._progress = Progress(
            TextColumn("[bold]loadgen"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[stats]}")
        )
        self._task_id = None
        self._updater: asyncio.Task | None = None

    def start(self) -> None:
        self._progress.start()
        self._task_id = self._progress.add_task("run", total=len(self._schedule), stats="")
        self._updater = asyncio.create_task(self._update_forever())

    def _refresh(self) -> None:
        sent_mask = ~np.isnan(self._outcomes.send_lag_s)
        answered_mask = ~np.isnan(self._outcomes.latency_s)
        sent, answered = int(sent_mask.sum()), int(answered_mask.sum())
        errors = sum(1 for s in self._outcomes.status if s not in ("OK", "NOT_SENT"))
        recent = np.flatnonzero(sent_mask)[-1] if sent else 0
        horizon = (
            np.searchsorted(self._schedule.times, self._schedule.times[recent] - RECENT_S) if sent else 0
        )
        window = self._outcomes.latency_s[horizon : recent + 1]
        window = window[~np.isnan(window)]
        p99 = f"{np.percentile(window, 99) * 1e3:.1f} ms" if len(window) else "-"
        self._progress.update(
            self._task_id,
            completed=answered,
            stats=f"sent {sent}  answered {answered}  p99 {p99}  errors {errors}",
        )

    async def _update_forever(self) -> None:
        while True:
            self._refresh()
            await asyncio.sleep(REFRESH_S)

    async def stop(self) -> None:
        if self._updater is not None:
            self._updater.cancel()
            await asyncio.gather(self._updater, return_exceptions=True)
        self._refresh()
        self._progress.stop()
