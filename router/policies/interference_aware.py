"""Interference-aware routing: send each request where it is predicted to finish soonest."""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence

from interfleet.errors import ConfigError
from interfleet.placement import Placement
from router.policies.base import (
    Candidate,
    Decision,
    Needs,
    NoWorkerMeetsDeadline,
    RouteRequest,
    RoutingPolicy,
)
from router.policies.least_loaded import LeastLoaded
from router.policies.overhead import OverheadModel

# Predicted degradation of each placement (co-located latency over solo), or None without a model.
DegradationEstimator = Callable[[Sequence[Placement]], Collection[float] | None]
# A worker's online correction factor (1.0 unless it is marked interfered).
Correction = Callable[[str], float]

ON_UNMEETABLE = ("reject", "least-bad")
OBJECTIVES = ("fastest", "balanced")


class InterferenceAware(RoutingPolicy):
    """Sends each request where it adds least to the latency of everything in flight: its own
    predicted latency, plus the delay it imposes on the requests already running beside it.

    For candidate worker w hosting model m:

        service(w)   = solo(m, w) x max(1, degradation(m | what runs on w's device now))
        predicted(w) = (overhead(others(w)) + drain(w, ahead(w) + 1) x service(w) / solo(m, w)) x correction(w)

    - solo(m, w) is m's batch-1 latency on w with nothing beside it, measured by the worker;
    - degradation comes from the degradation model, given the models active on w's device with
      their loads (w's own co-located models, and those of other workers sharing its cores,
      weighted by the share they hold), as `Candidate.placement` describes;
    - ahead(w) is this router's requests for m in flight at w, which run before this one;
      drain(w, n) is how long n requests of m take at w batched as the worker batches them (full
      batches, then the rest; each batch's latency from the worker's published batch profile),
      so a deep queue of a model that batches well is not mistaken for a long wait;
    - others(w) is its requests for other models in flight at w;
    - overhead(others) is what a request costs beyond its compute, a + b x others: the network,
      the router and the worker's request handling, which the other requests there share, and
      the time the worker's batcher holds it for a fuller batch. It is fitted to the answers
      (`observe`, see `overhead.OverheadModel`) per model over the whole fleet (the batcher's
      wait scales with the model's SLO, so a 5 ms model's overhead must not be charged to a
      0.5 ms one), so what the degradation model misses about every worker (this machine's
      Python and gRPC costs) is learnt, while what sets one worker apart is left to the
      detector. Before a model's first answer, the probed round trip of a no-op call stands in
      (`Candidate.hop_ms`);
    - correction(w) is the online detector's factor: above 1 while w runs persistently slower
      than predicted (a tenant outside the fleet, a throttled device), 1 otherwise.

        imposed(w) = sum over requests q in flight on w's cores of share(q) x min(service(w), solo(q))

    is the delay the request inflicts on them: cores are time-shared, so while both run each
    is held back by the other's work, for as long as the shorter of the two lasts (processor
    sharing). Choosing by predicted(w) alone is selfish: a heavy request would take the fastest
    device even when that device spans every core and stalls all the small requests there,
    when a slower one-core device would leave the others a core to run on. Small requests
    impose little and go where they finish first.

    Among the workers predicted to meet the request's deadline, the smallest
    predicted(w) + imposed(w) wins, except that a share `explore` (2%) of decisions goes to one of
    them at random. Without that, routing feeds on its own predictions: a worker that gets no
    traffic gives the detector no evidence, and the overhead model, fitted to the answers of the
    workers that do, absorbs their slowness as if it were everyone's, so a slow worker that once
    looked fastest could keep every request. When none is (the smallest prediction exceeds the
    time left), no worker can meet it: with `on_unmeetable="reject"` the request is refused at
    once (NoWorkerMeetsDeadline), except that a share `explore` of them goes to the smallest
    prediction anyway (predictions that refused a model everything would never be corrected),
    and with "least-bad" all of them do. Without a usable degradation
    model, or a candidate the worker has not described yet, the decision falls back to
    least-loaded.

    That choice is `objective="fastest"`. It is greedy: each request goes where it finishes
    first, and in a large fleet of mixed GPUs the fastest type draws most of the traffic until
    its co-located models and batch holds make requests late (see docs/routing.md's emulated
    results). With `objective="balanced"` the prediction only vetoes: among the workers
    predicted to answer within `headroom` (0.8) of the time left, the one with the fewest
    requests in flight wins, as least-loaded would choose; without such a worker, the fastest
    that meets the deadline.
    """

    name = "interference-aware"
    needs = Needs.PLACEMENT | Needs.HOP | Needs.DEGRADATION | Needs.CORRECTION

    def __init__(
        self,
        on_unmeetable: str = "reject",
        hop_ms: float = 0.5,
        overhead_decay: float = 0.995,
        seed: int | None = None,
        explore: float = 0.02,
        estimator: DegradationEstimator | None = None,
        correction: Correction | None = None,
        objective: str = "fastest",
        headroom: float = 0.8,
    ):
        if on_unmeetable not in ON_UNMEETABLE:
            raise ConfigError(
                f"on_unmeetable must be one of {', '.join(ON_UNMEETABLE)}, not {on_unmeetable!r}"
            )
        if not 0.0 <= explore < 1.0:
            raise ConfigError(f"explore must be in [0, 1), not {explore!r}")
        if objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
        if not 0.0 < headroom <= 1.0:
            raise ConfigError(f"headroom must be in (0, 1], not {headroom!r}")
        self.objective, self.headroom = objective, headroom
        self.explore = explore
        self._random = random.Random(seed)
        self.on_unmeetable = on_unmeetable
        self._overhead_decay, self._hop_ms = overhead_decay, hop_ms
        self.overheads: dict[str, OverheadModel] = {}  # per model
        self.estimator = estimator
        self.correction = correction
        self.fallback = LeastLoaded(seed)
        self.fallbacks = 0  # decisions made by the fallback, for metrics

    def choose(self, model: str, candidates: Sequence[Candidate]) -> Candidate:
        return self.decide(RouteRequest(model), candidates).worker

    def decide(self, request: RouteRequest, candidates: Sequence[Candidate]) -> Decision:
        degradations = self._degradations(candidates)
        if degradations is None:
            self.fallbacks += 1
            return Decision(self.fallback.choose(request.model, candidates))
        overhead, correction = self._overhead(request.model), self.correction
        services, raw, corrected = [], [], []  # per candidate, in one pass (this runs per request)
        for c, degradation in zip(candidates, degradations):
            service = c.solo_ms * (degradation if degradation > 1.0 else 1.0)
            ms = self._predict(overhead, c, service)
            services.append(service)
            raw.append(ms)
            corrected.append(ms * correction(c.worker_id) if correction else ms)
        predictions = tuple(zip([c.worker_id for c in candidates], corrected))
        indices: list[int] = list(range(len(candidates)))
        if request.budget_ms is not None:
            meeting = [i for i in indices if corrected[i] <= request.budget_ms]
            if not meeting and self.on_unmeetable == "reject" and self._random.random() >= self.explore:
                raise NoWorkerMeetsDeadline(request.model, request.budget_ms, predictions)
            indices = meeting or [min(indices, key=corrected.__getitem__)]
        if self.explore and len(indices) > 1 and self._random.random() < self.explore:
            best = self._random.choice(list(indices))
        elif self.objective == "balanced" and request.budget_ms is not None:
            # Of the workers predicted to answer with `headroom` of the budget to spare, the one
            # with the fewest requests in flight; without such a worker, the fastest meeting it.
            roomy = [i for i in indices if corrected[i] <= self.headroom * request.budget_ms]
            if roomy:
                best = min(roomy, key=lambda i: (candidates[i].outstanding, corrected[i]))
            else:
                best = min(indices, key=lambda i: corrected[i] + self._imposed(candidates[i], services[i]))
        else:
            best = min(indices, key=lambda i: corrected[i] + self._imposed(candidates[i], services[i]))
        return Decision(
            candidates[best], corrected[best], raw[best], predictions, services[best], request.model
        )

    def observe(self, decision: Decision, observed_ms: float) -> None:
        if decision.service_ms is None:
            return
        c = decision.worker
        self._overhead(decision.model).observe(
            self._others(c), max(0.0, observed_ms - c.drain_ms(c.outstanding_model + 1, decision.service_ms))
        )

    def _overhead(self, model: str) -> OverheadModel:
        overhead = self.overheads.get(model)
        if overhead is None:
            overhead = self.overheads[model] = OverheadModel(self._overhead_decay, prior_ms=self._hop_ms)
        return overhead

    @staticmethod
    def _imposed(c: Candidate, service_ms: float) -> float:
        return sum(
            [weight * (service_ms if service_ms < solo_ms else solo_ms) for solo_ms, weight in c.beside]
        )

    @staticmethod
    def _others(c: Candidate) -> int:
        return c.outstanding - c.outstanding_model

    @classmethod
    def _predict(cls, overhead: OverheadModel, c: Candidate, service_ms: float) -> float:
        return overhead.predict(cls._others(c), c.hop_ms) + c.drain_ms(c.outstanding_model + 1, service_ms)

    def _degradations(self, candidates: Sequence[Candidate]) -> Collection[float] | None:
        placements = [c.placement for c in candidates if c.solo_ms > 0 and c.placement is not None]
        if self.estimator is None or len(placements) < len(candidates):
            return None
        return self.estimator(placements)
