"""The fleet's model repository as Triton's repository API sees it: load and unload fleet-wide.

`load(name)` asks the planner to place the model (`PlannerClient`), then waits until this
router's view of the fleet lists it on a worker, so a client may infer as soon as the call
returns; `unload(name)` asks the planner to remove it everywhere (each worker drains it first)
and remembers it as unloaded for the index. Without a planner both answer UNAVAILABLE saying so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from interfleet.errors import DeadlineExceeded, InvalidInput, Unavailable
from router.fleet_view import FleetView
from router.planner_client import PlannerClient

NO_PLANNER = (
    "this fleet has no planner: RepositoryModelLoad and RepositoryModelUnload go through it "
    "(add a 'planner' section to the fleet file, or give the router planner_address)"
)


class FleetRepository:
    def __init__(
        self,
        planner: PlannerClient | None,
        view: Callable[[], FleetView],
        refresh: Callable[[], Awaitable[object]],
        unloaded: set[str],
        clock: Callable[[], float] = time.monotonic,
        visible_within_s: float = 10.0,
    ):
        self._planner = planner
        self._view = view
        self._refresh = refresh
        self._clock = clock
        self._visible_within_s = visible_within_s
        self.unloaded = unloaded  # unloaded through this router and not loaded since (the index shows it)

    async def load(self, name: str, timeout: float | None = None) -> None:
        planner = self._require(name)
        workers = await planner.place(name, timeout)
        deadline = self._clock() + self._visible_within_s
        while not set(self._view().by_model.get(name, ())) & set(workers):
            if self._clock() > deadline:
                raise DeadlineExceeded(
                    f"model '{name}' was loaded on {', '.join(workers)} but no heartbeat listing it "
                    f"reached this router within {self._visible_within_s:.0f} s"
                )
            await self._refresh()
            await asyncio.sleep(0.05)
        self.unloaded.discard(name)

    async def unload(self, name: str, timeout: float | None = None) -> None:
        planner = self._require(name)
        await planner.remove(name, timeout)
        self.unloaded.add(name)
        await self._refresh()

    def _require(self, name: str) -> PlannerClient:
        if not name:
            raise InvalidInput("model_name is required")
        if self._planner is None:
            raise Unavailable(NO_PLANNER)
        return self._planner
