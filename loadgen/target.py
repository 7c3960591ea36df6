"""The endpoint under test: checks before a run (reachable, models known, their SLOs) and the run."""

from __future__ import annotations

import functools

import numpy as np
import tritonclient.grpc as tc
import tritonclient.grpc.aio as tc_aio
from tritonclient.utils import InferenceServerException

from interfleet.security.client import ClientAccess
from loadgen.errors import LoadgenError
from loadgen.inputs import random_inputs
from loadgen.progress import ProgressDisplay
from loadgen.schedule import Schedule
from loadgen.sender import Outcomes, send_schedule

CHECK_TIMEOUT_S = 5.0


class Target:
    def __init__(self, address: str, access: ClientAccess = ClientAccess()):
        self.address = address
        self._access = access
        self._client = tc.InferenceServerClient(address, **access.tritonclient_args())
        self._headers = access.headers

    def check_live(self) -> None:
        try:
            live = self._client.is_server_live(headers=self._headers, client_timeout=CHECK_TIMEOUT_S)
        except InferenceServerException as exc:
            raise LoadgenError(f"cannot reach target {self.address}: {exc.message() or exc}") from None
        if not live:
            raise LoadgenError(f"target {self.address} is not live")

    def served_models(self) -> list[str]:
        try:
            index = self._client.get_model_repository_index(
                headers=self._headers, client_timeout=CHECK_TIMEOUT_S
            )
            return sorted(m.name for m in index.models)
        except InferenceServerException:
            return []

    @functools.cache
    def metadata(self, model: str):
        try:
            return self._client.get_model_metadata(
                model, headers=self._headers, client_timeout=CHECK_TIMEOUT_S
            )
        except InferenceServerException as exc:
            if "NOT_FOUND" in (exc.status() or ""):
                served = ", ".join(self.served_models()) or "none listed"
                raise LoadgenError(f"unknown model '{model}': {self.address} serves {served}") from None
            raise LoadgenError(
                f"cannot read metadata of '{model}' from {self.address}: {exc.message()}"
            ) from None

    def slo_ms(self, model: str) -> float:
        """The SLO the model's config declares (interfleet's `slo_ms` parameter)."""
        config = self._client.get_model_config(
            model, headers=self._headers, client_timeout=CHECK_TIMEOUT_S
        ).config
        if "slo_ms" in config.parameters:
            return float(config.parameters["slo_ms"].string_value)
        raise LoadgenError(f"model '{model}' declares no SLO: give --slo {model}=MS")

    async def run(
        self, schedule: Schedule, rng: np.random.Generator, use_deadline: bool, progress: bool
    ) -> Outcomes:
        inputs = {m: random_inputs(self.metadata(m), rng) for m in schedule.models}
        outcomes = Outcomes.empty(len(schedule))
        client = tc_aio.InferenceServerClient(self.address, **self._access.tritonclient_args())
        display = ProgressDisplay(schedule, outcomes) if progress else None
        try:
            if display:
                display.start()
            await send_schedule(client, schedule, inputs, use_deadline, outcomes, headers=self._headers)
        finally:
            if display:
                await display.stop()
            await client.close()
        return outcomes
