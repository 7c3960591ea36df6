"""Scoring the candidate workers of one request: one batched predict, cached while nothing changed.

The router asks, per request, how slow the model would run on each candidate given what runs
there now. Co-location state changes far less often than requests arrive, so each placement's
answer is cached under a key of the placement, with co-runner loads rounded to `load_step` so
that load jitter does not defeat the cache. Placements are cached one by one, not as a set, so
a change on one candidate does not throw away what is known of the others; the placements that
miss are predicted together in one LightGBM call (the call overhead is what a batch amortises).
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np

from interfleet.predictor.features import FeatureBuilder, Placement
from interfleet.predictor.model import DegradationModel


class CandidateScorer:
    def __init__(self, model: DegradationModel, builder: FeatureBuilder, load_step: float = 0.1,
                 cache_size: int = 4096):
        self._model = model
        self._builder = builder
        self._load_step = load_step
        self._cache: collections.OrderedDict[tuple, float] = collections.OrderedDict()
        self._cache_size = cache_size
        self.hits = self.misses = 0

    def _key(self, p: Placement) -> tuple:
        runners = tuple(sorted((c.model, c.batch, round(c.load / self._load_step)) for c in p.co_runners))
        return (p.target, p.batch, round(p.solo_ms, 3), runners, p.cores, p.threads, p.shared_workers,
                p.stress, round(p.stress_intensity / self._load_step))

    def degradation(self, candidates: Sequence[Placement]) -> np.ndarray:
        """Predicted mean degradation of each candidate placement."""
        keys = [self._key(p) for p in candidates]
        scores = np.empty(len(candidates))
        missing = []
        for i, key in enumerate(keys):
            cached = self._cache.get(key)
            if cached is None:
                missing.append(i)
            else:
                self._cache.move_to_end(key)
                scores[i] = cached
        if missing:
            self.misses += 1
            predicted = self._model.predict_mean(self._builder.matrix([candidates[i] for i in missing]))
            for i, value in zip(missing, predicted):
                scores[i] = self._cache[keys[i]] = float(value)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self.hits += 1
        return scores
