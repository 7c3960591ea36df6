"""Sequences of a stateful model (Triton's sequence batching, direct strategy) on one worker.

A request names its sequence with the `sequence_id` parameter (a non-zero integer or a
non-empty string) and says with `sequence_start` / `sequence_end` where it stands. For each
request the worker fills the model's control inputs (START, END and READY with the config's
false/true values, CORRID with the sequence id) and its implicit state inputs: zeros on the
first request, the state outputs of the previous request after that. A sequence's requests run
one at a time, in the order they arrive; state outputs are kept, never returned. A sequence
idle longer than the config's `max_sequence_idle_microseconds` is forgotten, and its next
request must start it again. The router keeps every request of a sequence on the worker that
took its first (`router.sequences`).

The errors are Triton's words: a request without a correlation id, or continuing a sequence
this worker does not hold, is INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput
from interfleet.kserve.datatypes import NUMPY_DTYPE
from interfleet.kserve.sequence_flags import SequenceFlags
from interfleet.repository import SequenceSettings
from services.worker.tensors import DecodedRequest, EncodedTensor


@dataclass
class _Sequence:
    state: dict[str, np.ndarray]  # state input -> its value for the next request
    last_used: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Sequences:
    """The live sequences of one model."""

    def __init__(self, model: str, settings: SequenceSettings, clock: Callable[[], float] = time.monotonic):
        self._model = model
        self._settings = settings
        self._clock = clock
        self._live: collections.OrderedDict[int | str, _Sequence] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._live)

    def _forget_idle(self, now: float) -> None:
        while self._live:
            oldest = next(iter(self._live.values()))
            if now - oldest.last_used <= self._settings.idle_s or oldest.lock.locked():
                return
            self._live.popitem(last=False)

    def begin(self, request: service_pb2.ModelInferRequest) -> tuple[SequenceFlags, _Sequence]:
        """The sequence `request` belongs to (started afresh on its START); raises InvalidInput."""
        flags = SequenceFlags.of(request)
        if flags is None:
            raise InvalidInput(
                f"inference request to model '{self._model}' must specify a non-zero or non-empty correlation ID"
            )
        for control in self._settings.controls:  # refused before anything is stored for it
            if (
                control.kind == "corrid"
                and isinstance(flags.sequence_id, str)
                and control.datatype != "BYTES"
            ):
                raise InvalidInput(
                    f"model '{self._model}': sequence id {flags.sequence_id!r} is a string, but its correlation "
                    f"ID input {control.input} is {control.datatype}: use an integer id"
                )
        now = self._clock()
        self._forget_idle(now)
        if flags.start:
            zeros = {s.input: np.zeros((1, *s.dims), NUMPY_DTYPE[s.datatype]) for s in self._settings.states}
            sequence = self._live.pop(flags.sequence_id, None) or _Sequence(zeros, now)
            sequence.state = zeros
        else:
            sequence = self._live.pop(flags.sequence_id, None)
            if sequence is None:
                raise InvalidInput(
                    f"inference request for sequence {flags.sequence_id} to model '{self._model}' must "
                    "specify the START flag on the first request of the sequence (or it was idle past "
                    f"max_sequence_idle_microseconds, {self._settings.idle_s * 1e6:.0f})"
                )
        sequence.last_used = now
        self._live[flags.sequence_id] = sequence  # most recently used last
        return flags, sequence

    def feed(self, decoded: DecodedRequest, flags: SequenceFlags, sequence: _Sequence) -> DecodedRequest:
        """`decoded` with the control and state inputs filled and the state outputs asked for."""
        if decoded.batch_size != 1:
            raise InvalidInput(
                f"model '{self._model}': a sequence's requests take batch size 1, got {decoded.batch_size}"
            )
        feeds = dict(decoded.feeds)
        for control in self._settings.controls:
            if control.kind == "corrid":
                value = flags.sequence_id
                dtype = np.object_ if control.datatype == "BYTES" else NUMPY_DTYPE[control.datatype]
            else:
                on = {"start": flags.start, "end": flags.end, "ready": True}[control.kind]
                value, dtype = (control.true if on else control.false), NUMPY_DTYPE[control.datatype]
            feeds[control.input] = np.array([[value]], dtype=dtype)
        feeds.update(sequence.state)
        outputs = decoded.outputs + tuple(s.output for s in self._settings.states)
        return replace(decoded, feeds=feeds, outputs=outputs)

    def keep_state(
        self, flags: SequenceFlags, sequence: _Sequence, outputs: Sequence[EncodedTensor]
    ) -> list[EncodedTensor]:
        """Keep the state outputs for the sequence's next request; the rest go to the client."""
        by_output = {s.output: s for s in self._settings.states}
        returned = []
        for tensor in outputs:
            state = by_output.get(tensor.name)
            if state is None:
                returned.append(tensor)
                continue
            sequence.state[state.input] = np.frombuffer(tensor.data, NUMPY_DTYPE[state.datatype]).reshape(
                (1, *state.dims)
            )
        sequence.last_used = self._clock()
        if flags.end:
            self._live.pop(flags.sequence_id, None)
        return returned
