"""An ONNX model loaded into an ONNX Runtime session, with its declared inputs and outputs."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from interfleet.kserve.datatypes import BYTES, FROM_ONNXRUNTIME, tensor_bytes, zeros
from interfleet.proto import fleet_pb2
from interfleet.repository import ModelSpec, RepositoryError
from interfleet.solo import SoloLatency
from services.worker.batching.profile import seed_sizes
from services.worker.classification import classify, read_labels
from services.worker.tensors import EncodedTensor, TensorSpec
from services.worker.unbatched import UnbatchedSession

log = logging.getLogger(__name__)


class WarmUpStopped(Exception):
    """The worker was told to stop while a model was still warming up."""


PLATFORM = "onnxruntime_onnx"


def _specs(args: Sequence[ort.NodeArg], model: str) -> tuple[TensorSpec, ...]:
    specs = []
    for arg in args:
        datatype = FROM_ONNXRUNTIME.get(arg.type)
        if datatype is None:
            raise RepositoryError(
                f"model '{model}': {arg.name} has type {arg.type}, which the worker cannot serve"
            )
        shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
        if not shape or shape[0] != -1:
            raise RepositoryError(
                f"model '{model}': {arg.name} needs a dynamic batch axis first, has {arg.shape}"
            )
        specs.append(TensorSpec(arg.name, datatype, shape))
    return tuple(specs)


@dataclass
class LoadedModel:
    spec: ModelSpec
    session: ort.InferenceSession  # or an EmulatedSession
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    solo: SoloLatency = field(default_factory=SoloLatency)  # its lone batch-1 runs here
    labels: dict[str, list[str]] = field(default_factory=dict)  # output -> class labels, by index

    @classmethod
    def load(cls, spec: ModelSpec, providers: list, options: ort.SessionOptions) -> LoadedModel:
        try:
            session = ort.InferenceSession(str(spec.path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise RepositoryError(
                f"model '{spec.name}': ONNX Runtime cannot load {spec.path}: {exc}"
            ) from exc
        return cls.of_session(spec, session)

    @classmethod
    def of_session(cls, spec: ModelSpec, session) -> LoadedModel:
        """Around any session with ONNX Runtime's `get_inputs`, `get_outputs` and `run` (an emulated GPU's)."""
        if spec.max_batch_size == 0:
            session = UnbatchedSession(session)
        return cls(
            spec,
            session,
            _specs(session.get_inputs(), spec.name),
            _specs(session.get_outputs(), spec.name),
            labels={output: read_labels(path) for output, path in spec.labels.items()},
        )

    def encode(
        self,
        names: Sequence[str],
        arrays: Sequence[np.ndarray],
        class_counts: Mapping[str, int] | None = None,
    ) -> list[EncodedTensor]:
        """Serialise outputs for the wire (in the model's execution thread, off the event loop);
        an output in `class_counts` goes as its top classes (`classification`)."""
        datatypes = {spec.name: spec.datatype for spec in self.outputs}
        batched = self.spec.max_batch_size > 0  # else the worker's own leading axis goes (unbatched.py)
        encoded = []
        for name, array in zip(names, arrays):
            datatype = datatypes[name]
            if class_counts and name in class_counts:
                array = classify(array, class_counts[name], self.labels.get(name, ()), name)
                datatype = BYTES
            shape = array.shape if batched else array.shape[1:]
            encoded.append(EncodedTensor(name, datatype, shape, tensor_bytes(array)))
        return encoded

    def warm_up(self, batch_size: int = 1) -> float:
        """Run one batch of zeros; returns its seconds."""
        # A dynamic axis other than the batch has no natural size; one element stands in.
        feeds = {
            spec.name: zeros([batch_size, *(1 if d == -1 else d for d in spec.shape[1:])], spec.datatype)
            for spec in self.inputs
        }
        started = time.perf_counter()
        self.session.run(None, feeds)
        return time.perf_counter() - started

    def measure_profile(
        self, max_batch_size: int, warm_every_size: bool = True, stopping: threading.Event | None = None
    ) -> dict[int, float]:
        """Warm up every batch size a batcher may use, so no request pays a first-run cost, and
        time a second run at powers of two (and the maximum) to seed the latency profile. An
        emulated GPU has no first-run cost (`warm_every_size=False`): only the timed runs. Once
        `stopping` is set (the worker was told to stop while loading) it raises WarmUpStopped
        before the next run, so a stop never waits for the rest of a long warm-up."""
        for size in range(1, max_batch_size + 1) if warm_every_size else ():
            self._unless_stopping(stopping)
            self.warm_up(size)
        profile = {}
        for size in seed_sizes(max_batch_size):
            self._unless_stopping(stopping)
            profile[size] = self.warm_up(size)
        return profile

    def _unless_stopping(self, stopping: threading.Event | None) -> None:
        if stopping is not None and stopping.is_set():
            raise WarmUpStopped(f"model '{self.spec.name}': stopped while warming up")

    @property
    def solo_latency_s(self) -> float:
        """Batch-1 seconds with nothing beside it (`interfleet.solo`); 0 until measured."""
        return self.solo.value

    def measure_solo(self, runs: int = 7) -> float:
        """Seed the solo latency with `runs` batch-1 runs; lone runs while serving keep it current."""
        for _ in range(runs):
            self.solo.observe(self.warm_up(1))
        return self.solo_latency_s

    @functools.cached_property  # read for every request: worked out once
    def client_inputs(self) -> tuple[TensorSpec, ...]:
        """The inputs a client sends: all but a stateful model's control and state inputs."""
        internal = self.spec.sequence.internal_inputs if self.spec.sequence else frozenset()
        return tuple(s for s in self.inputs if s.name not in internal)

    @functools.cached_property
    def client_outputs(self) -> tuple[TensorSpec, ...]:
        """The outputs a client may ask for: all but a stateful model's state outputs."""
        internal = self.spec.sequence.state_outputs if self.spec.sequence else frozenset()
        return tuple(s for s in self.outputs if s.name not in internal)

    def to_proto(self) -> fleet_pb2.HostedModel:
        def published(spec: TensorSpec) -> fleet_pb2.TensorSpec:
            return fleet_pb2.TensorSpec(
                name=spec.name,
                datatype=spec.datatype,
                shape=spec.shape if self.spec.max_batch_size > 0 else spec.shape[1:],
                format=self.spec.input_formats.get(spec.name, ""),
                label_filename=Path(self.spec.labels[spec.name]).name
                if spec.name in self.spec.labels
                else "",
            )

        return fleet_pb2.HostedModel(
            name=self.spec.name,
            version=self.spec.version,
            platform=PLATFORM,
            max_batch_size=self.spec.max_batch_size,
            slo_ms=self.spec.slo_ms,
            inputs=[published(s) for s in self.client_inputs],
            outputs=[published(s) for s in self.client_outputs],
            sequence=self.spec.sequence is not None,
            flops_per_sample=self.spec.flops_per_sample,
            parameter_count=self.spec.parameter_count,
            solo_latency_ms=self.solo_latency_s * 1e3,
        )
