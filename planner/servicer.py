"""The planner's PlannerControl servicer. It only translates: proto in, a call on the service, proto out."""

from __future__ import annotations

from typing import Protocol

from interfleet.kserve.status import maps_errors
from interfleet.proto import fleet_pb2, fleet_pb2_grpc


class PlannerControl(Protocol):
    async def place(self, model: str, replicas: int = 0) -> list[str]: ...
    async def remove(self, model: str) -> list[str]: ...
    def plan_state(self) -> fleet_pb2.PlanState: ...


class PlannerControlServicer(fleet_pb2_grpc.PlannerControlServicer):
    def __init__(self, control: PlannerControl):
        self._control = control
        # Domain errors abort with their status (NOT_FOUND, UNAVAILABLE, ...).
        self.Place = maps_errors(self._place)
        self.Remove = maps_errors(self._remove)
        self.GetPlan = maps_errors(self._plan)

    async def _place(self, request, context):
        return fleet_pb2.PlaceReply(workers=await self._control.place(request.model, request.replicas))

    async def _remove(self, request, context):
        return fleet_pb2.PlaceReply(workers=await self._control.remove(request.model))

    async def _plan(self, request, context):
        return self._control.plan_state()
