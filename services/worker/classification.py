"""Triton's classification extension: an output asked for with `class_count` k comes back as its
k largest values per item, as BYTES strings `"<value>:<index>"`, or `"<value>:<index>:<label>"`
when the model's config names a labels file for that output (one label per line, by index).

The value is printed as C's `%f` (six decimals), as Triton prints it; the shape is [batch, k]
(k alone for a model without a batch axis), with k capped at the number of classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from interfleet.errors import InvalidInput
from interfleet.repository import RepositoryError


def read_labels(path: str | Path) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError as exc:
        raise RepositoryError(f"labels file {path}: {exc.strerror}") from None


def classify(array: np.ndarray, class_count: int, labels: Sequence[str], name: str) -> np.ndarray:
    """`array` ([batch, ...] scores) as the top `class_count` "value:index[:label]" strings per item."""
    if array.dtype == np.object_:
        raise InvalidInput(f"output '{name}' holds BYTES, which cannot be classified")
    scores = array.reshape(array.shape[0], -1)
    k = min(class_count, scores.shape[1])
    # Stable, so ties keep the lower index first, as a sort by value then index would.
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rows = []
    for item, indices in zip(scores, top):
        rows.append(
            [
                (f"{float(item[i]):f}:{i}" + (f":{labels[i]}" if i < len(labels) else "")).encode()
                for i in indices
            ]
        )
    result = np.empty((scores.shape[0], k), dtype=np.object_)
    result[:] = rows
    return result
