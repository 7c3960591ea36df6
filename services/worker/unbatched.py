"""A model without a batch axis (Triton's `max_batch_size: 0`), seen by the worker as a batching
model of batch size one.

The worker's queue, batcher and latency profile count items along a first axis. Rather than
teach each of them about models without one, the session is wrapped: its inputs and outputs
gain a leading dynamic axis, `run` drops that axis (always 1) from the feeds and adds it back to
the results. `services.worker.tensors` adds the axis to a request's tensors and drops it from
the answer's, so clients see the model's own shapes, as on Triton.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Arg:
    """What the worker reads of an ONNX Runtime NodeArg: name, type, shape."""

    name: str
    type: str
    shape: list


class UnbatchedSession:
    def __init__(self, session):
        self._session = session
        self._inputs = [_Arg(a.name, a.type, [None, *a.shape]) for a in session.get_inputs()]
        self._outputs = [_Arg(a.name, a.type, [None, *a.shape]) for a in session.get_outputs()]

    def get_inputs(self) -> list[_Arg]:
        return self._inputs

    def get_outputs(self) -> list[_Arg]:
        return self._outputs

    def run(self, output_names: Sequence[str] | None, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        results = self._session.run(output_names, {name: array[0] for name, array in feeds.items()})
        return [np.expand_dims(result, 0) for result in results]
