"""The router's decision core: which worker serves each request, free of gRPC, Redis and clocks.

It holds what a routing decision reads: the latest `FleetView`, this router's requests in flight
per worker and model, the workers ejected after a failed call, and each worker's measured hop.
Four events drive it:

- `update(view)`: a new view of the fleet (workers, their loads, solo latencies, devices);
- `route(model, budget_ms, now)`: build the candidates (all live hosts of the model, or
  `max_candidates` of them drawn at random when there are more), ask the policy, count the
  request in flight at the chosen worker; returns the `Decision` (None when no live worker
  hosts the model; the policy may raise `NoWorkerMeetsDeadline`);
- `answered(decision, observed_ms)`: the request is back; a predicting policy and the
  interference detector learn from the latency it took;
- `failed(decision, now, eject)`: the call failed; an unreachable worker is ejected for a while.

The live router's `Dispatcher` calls these from gRPC handlers; the fleet simulator calls the same
methods of the same class from its event heap, so a policy decides the same way in both.
"""

from __future__ import annotations

import collections
import random
from collections.abc import Callable

from router.fleet_view import FleetView
from router.interference import InterferenceDetector
from router.placements import PlacementBuilder
from router.policies import Candidate, Decision, Needs, RouteRequest, RoutingPolicy


class RouterCore:
    def __init__(
        self,
        policy: RoutingPolicy,
        eject_s: float = 5.0,
        detector: InterferenceDetector | None = None,
        hop_ms: Callable[[str], float] = lambda worker_id: 0.0,
        max_candidates: int = 0,
        seed: int | None = None,
    ):
        self.policy = policy
        # A model hosted on thousands of workers: the policy sees this many of them, drawn at
        # random per request (0: all), as power-of-d routers do at scale.
        self._max_candidates = max_candidates
        self._random = random.Random(seed)
        self.detector = detector
        self._eject_s = eject_s
        self._hop_ms = hop_ms
        self._with_placement = Needs.PLACEMENT in policy.needs
        self.view = FleetView()
        self.in_flight: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.outstanding: collections.Counter[str] = collections.Counter()  # per worker, all models
        self._ejected_until: dict[str, float] = {}
        self.placements = PlacementBuilder(self.in_flight.__getitem__)
        self._hosts: dict[str, list[tuple]] = {}

    def update(self, view: FleetView) -> None:
        for worker_id in [w for w in self._ejected_until if w not in view.workers]:
            del self._ejected_until[worker_id]
        for worker_id in [w for w in self.in_flight if w not in view.workers and not self.outstanding[w]]:
            del self.in_flight[worker_id], self.outstanding[worker_id]
        self.view = view
        self.placements.update(view)
        # What a candidate takes from the view, read once per view instead of once per request.
        self._hosts = {}
        for model, worker_ids in view.by_model.items():
            hosts = []
            for worker_id in worker_ids:
                load = view.loads.get((worker_id, model))
                max_batch, full_batch_ms = view.full_batch.get((worker_id, model), (1, 0.0))
                hosts.append(
                    (
                        worker_id,
                        view.workers[worker_id].device.name,
                        load.queue_depth if load else 0,
                        load.in_flight if load else 0,
                        load.p50_latency_ms if load else 0.0,
                        view.solo_ms.get((worker_id, model), 0.0),
                        max_batch,
                        full_batch_ms,
                        self.in_flight[worker_id],
                    )
                )
            self._hosts[model] = hosts

    def candidates(self, model: str, now: float, exclude: frozenset[str] = frozenset()) -> list[Candidate]:
        """Live, non-ejected workers hosting `model`, each as the policy sees it."""
        hosts = self._hosts.get(model, ())
        if self._max_candidates and len(hosts) > self._max_candidates:
            hosts = self._random.sample(hosts, self._max_candidates)
        with_placement, ejected, outstanding = self._with_placement, self._ejected_until, self.outstanding
        result = []
        for (
            worker_id,
            device,
            queue_depth,
            in_flight,
            p50_ms,
            solo_ms,
            max_batch,
            full_batch_ms,
            counts,
        ) in hosts:
            if worker_id in exclude or (ejected and ejected.get(worker_id, 0.0) > now):
                continue
            placed = self.placements.placement(worker_id, model, solo_ms) if with_placement else None
            result.append(
                Candidate(  # positional: a busy router builds hundreds of thousands a second
                    worker_id,
                    outstanding[worker_id],
                    queue_depth,
                    in_flight,
                    p50_ms,
                    device,
                    counts[model],
                    solo_ms,
                    self._hop_ms(worker_id),
                    placed[0] if placed else None,
                    placed[1] if placed else (),
                    max_batch,
                    full_batch_ms,
                )
            )
        return result

    def fastest_ms(self, model: str, now: float, exclude: frozenset[str] = frozenset()) -> float | None:
        """The least time another host of `model` has lately taken (its reported p50, else its solo
        latency, plus the hop); None when no host is left or none has been measured."""
        times = [
            (c.p50_latency_ms or c.solo_ms) + c.hop_ms
            for c in self.candidates(model, now, exclude)
            if c.p50_latency_ms or c.solo_ms
        ]
        return min(times) if times else None

    def route(
        self, model: str, budget_ms: float | None, now: float, exclude: frozenset[str] = frozenset()
    ) -> Decision | None:
        candidates = self.candidates(model, now, exclude)
        if not candidates:
            return None
        decision = self.policy.decide(RouteRequest(model, budget_ms), candidates)
        worker_id = decision.worker.worker_id
        self.outstanding[worker_id] += 1
        self.in_flight[worker_id][model] += 1
        return decision

    def _done(self, decision: Decision, model: str) -> None:
        worker_id = decision.worker.worker_id
        self.outstanding[worker_id] -= 1
        self.in_flight[worker_id][model] -= 1

    def answered(self, decision: Decision, model: str, observed_ms: float) -> None:
        self._done(decision, model)
        if decision.predicted_ms is None:
            return
        self.policy.observe(decision, observed_ms)
        if self.detector is not None and decision.uncorrected_ms is not None:
            self.detector.observe(decision.worker.worker_id, decision.uncorrected_ms, observed_ms)

    def failed(self, decision: Decision, model: str, now: float, eject: bool = False) -> None:
        self._done(decision, model)
        if eject:
            self._ejected_until[decision.worker.worker_id] = now + self._eject_s
