"""Random request inputs of each model's real shape and datatype, read from ModelMetadata."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc.aio as tc_aio

from interfleet.kserve.datatypes import NUMPY_DTYPE
from loadgen.errors import LoadgenError

VARIANTS = 8  # distinct random inputs per model, cycled, so building them costs nothing per request


def random_inputs(metadata, rng: np.random.Generator, batch_size: int = 1) -> list[list[tc_aio.InferInput]]:
    variants = []
    for _ in range(VARIANTS):
        tensors = []
        for spec in metadata.inputs:
            dtype = NUMPY_DTYPE.get(spec.datatype)
            if dtype is None:
                raise LoadgenError(
                    f"model '{metadata.name}' input '{spec.name}' is {spec.datatype}; "
                    "the load generator cannot make random values of that type"
                )
            shape = [batch_size] + [1 if d < 0 else int(d) for d in spec.shape[1:]]
            if dtype.kind == "f":
                array = rng.random(shape).astype(dtype)
            elif dtype.kind == "b":
                array = rng.random(shape) > 0.5
            else:
                array = rng.integers(0, 100, shape).astype(dtype)
            tensor = tc_aio.InferInput(spec.name, shape, spec.datatype)
            tensor.set_data_from_numpy(array)
            tensors.append(tensor)
        variants.append(tensors)
    return variants
