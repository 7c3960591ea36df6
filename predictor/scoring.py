"""Scoring the candidate workers of one request: one batched predict, cached while nothing changed.

The router asks, per request, how slow the model would run on each candidate given what runs
there now. Co-location state changes far less often than requests arrive, so each placement's
answer is cached under a key of the placement, with co-runner loads rounded to `load_step` so
that load jitter does not defeat the cache. Placements are cached one by one, not as a set, so
a change on one candidate does not throw away what is known of the others. A few placements
that miss are predicted one row at a time through LightGBM's single-row fast path
(`row_predictor`), a quarter of the cost of a `predict` call; more are predicted together in
one batched call, whose fixed overhead they then amortise.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence

from interfleet.memo import BoundedMemo
from interfleet.placement import CoRunner, Placement
from predictor.features import FeatureBuilder
from predictor.model import DegradationModel
from predictor.row_predictor import RowPredictor

# Up to this many placements missing from the cache are predicted row by row (8 us a row, where
# a batched call costs 30 us plus about 4 us a row); more go in one batched call.
ROW_BY_ROW = 4


class CandidateScorer:
    def __init__(
        self,
        model: DegradationModel,
        builder: FeatureBuilder,
        load_step: float = 0.1,
        cache_size: int = 4096,
        describable: Callable[[Placement], bool] | None = None,
    ):
        self._model = model
        # Whether a placement's features can be computed now; checked on a miss only, since a
        # cached placement needs none.
        self._describable = describable
        self._predict_row = RowPredictor(model.mean)
        self._builder = builder
        self._load_step = load_step
        self._cache: collections.OrderedDict[tuple, float] = collections.OrderedDict()
        self._cache_size = cache_size
        # The router hands out the same Placement object while a device's state is unchanged
        # (`router.placements`): such a one is answered by identity, without building its key.
        # Each entry holds its placement, so the id cannot be reused while the entry exists.
        self._seen: dict[int, tuple[Placement, float]] = {}
        # A co-runner's part of the key, its load rounded to `load_step`: the router hands out the
        # same few co-runners again and again, so each is rounded once.
        self._runner_keys: BoundedMemo[CoRunner, tuple[str, int, int]] = BoundedMemo(
            lambda c: (c.model, c.batch, round(c.load / load_step))
        )
        self.hits = self.misses = 0

    def _key(self, p: Placement) -> tuple:
        return (
            p.target,
            p.batch,
            round(p.solo_ms, 3),
            tuple(sorted(map(self._runner_keys.__getitem__, p.co_runners))),
            p.cores,
            p.threads,
            p.l2_bytes,
            p.l3_bytes,
            p.peak_tflops,
            p.memory_gbps,
            p.stress,
            round(p.stress_intensity / self._load_step),
        )

    def _remember(self, p: Placement, score: float) -> None:
        if len(self._seen) >= self._cache_size:
            self._seen = {}
        self._seen[id(p)] = (p, score)

    def degradation(self, candidates: Sequence[Placement]) -> list[float] | None:
        """Predicted mean degradation of each candidate placement; None if one cannot be described.

        A list of Python floats, not an array: the policy does a few scalar operations on each, at
        a fraction of numpy scalars' cost."""
        scores = [0.0] * len(candidates)
        keys: list[tuple | None] = [None] * len(candidates)
        missing = []
        seen = self._seen
        for i, p in enumerate(candidates):
            known = seen.get(id(p))
            if known is not None and known[0] is p:
                scores[i] = known[1]
                continue
            key = keys[i] = self._key(p)
            cached = self._cache.get(key)
            if cached is None:
                missing.append(i)
            else:
                self._cache.move_to_end(key)
                scores[i] = cached
                self._remember(p, cached)
        if missing:
            if self._describable is not None and not all(self._describable(candidates[i]) for i in missing):
                return None
            self.misses += 1
            if len(missing) <= ROW_BY_ROW:
                predicted = [math.exp(self._predict_row(self._builder.row(candidates[i]))) for i in missing]
            else:
                predicted = self._model.predict(self._builder.matrix([candidates[i] for i in missing]))
            for i, value in zip(missing, predicted):
                scores[i] = self._cache[keys[i]] = float(value)
                self._remember(candidates[i], float(value))
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self.hits += 1
        return scores
