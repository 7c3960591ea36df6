"""The degradation estimator of the router and the planner: the newest published model, scored per call.

The router's interference-aware policy calls it with one placement per candidate and gets each one's
predicted degradation, or None when there is nothing trustworthy to predict with (no model
published, a stale one, or a model whose graph features cannot be computed here), in which case
the policy falls back to least-loaded. Graph features come from the model repository; they are
computed off the event loop as models appear (`prepare`), so no request pays for parsing a graph.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

from interfleet.errors import ModelNotFound
from interfleet.placement import Placement
from interfleet.repository import RepositoryError
from predictor.features import FeatureBuilder
from predictor.registry import ModelWatcher
from predictor.scoring import CandidateScorer

log = logging.getLogger(__name__)


class PublishedModelEstimator:
    def __init__(self, watcher: ModelWatcher, repository: Path):
        self._watcher = watcher
        self._builder = FeatureBuilder(Path(repository))
        self._scorer: CandidateScorer | None = None
        self._version = 0
        self._described: set[str] = set()  # models whose graph features are cached
        self._unusable: dict[str, str] = {}  # model -> why its features cannot be computed

    @property
    def hit_rate(self) -> float:
        """Share of calls answered from the scorer's cache (0 before any)."""
        scorer = self._scorer
        calls = scorer.hits + scorer.misses if scorer else 0
        return scorer.hits / calls if calls else 0.0

    async def prepare(self, models: Iterable[str]) -> None:
        """Compute the graph features of models not seen before, in a thread."""
        for model in sorted(set(models) - self._described - set(self._unusable)):
            try:
                await asyncio.to_thread(self._builder.graph, model, 1)
                self._described.add(model)
            except (RepositoryError, ModelNotFound, OSError, ValueError) as exc:
                self._unusable[model] = str(exc)
                log.warning(
                    "no graph features for model %s (%s): its requests are routed least-loaded", model, exc
                )

    def __call__(self, placements: Sequence[Placement]) -> Sequence[float] | None:
        if self._watcher.status != "ok":
            return None
        if self._watcher.version != self._version:
            self._scorer = CandidateScorer(self._watcher.model, self._builder, describable=self._describable)
            self._version = self._watcher.version
        return self._scorer.degradation(placements)

    def _describable(self, p: Placement) -> bool:
        """Whether the graph features of every model in `p` are at hand (never parsed on the request path)."""
        described = self._described
        return p.target in described and all(c.model in described for c in p.co_runners)
