"""The planner service (`interfleet planner serve`): places models on the live fleet and re-plans it.

It reads the workers' heartbeats from Redis (the same trust rules as the router,
`HeartbeatReader`) and moves models with the workers' LoadModel / UnloadModel calls:

- `place(model)`: load it on the least busy ready workers not serving it, one at a time until
  `replicas` serve it (a worker whose repository lacks it is skipped); answers once they do;
- `remove(model)`: unload it from every worker serving it, each drained first (it keeps
  answering what arrives while routers catch up with its heartbeat);
- re-planning (`replan: true`): every `replan_interval_s`, the demand (what each model was
  offered, answered or not, summed over workers) is compared with the demand the current
  placement was made for (`replan.ReplanGate`: a drift past the band, widened by light models'
  counting noise, on two readings in a row, after a cool-down; the demand is read a full stats
  window after the last move); when due, the planner solves for the fewest workers that carry
  the demand with 25% headroom (the largest scale of it, if none do), on the
  workers' own profiles (kept once measured) and the published degradation predictor, and
  applies the moves loads first (`replan.ordered_moves`; the workers in parallel, each
  worker's in turn), then the unloads at once, at most `max_moves_per_minute`, never leaving
  a model without a serving replica (an unload waits for the load that replaces it, and stays
  if it failed). Moves the budget defers are made on the passes after, toward the same
  target, until the next re-plan. Among the plans with the fewest workers it takes the one
  closest to what is in place: the fleet moves when the demand does, not when it jitters.
  Workers a plan leaves empty host nothing until needed.

Every move is logged and kept (`GetPlan`, `interfleet plan --show`), with the plan and the
demand it was made for. With TLS configured it dials workers over mTLS under its own identity
(`planner/planner`), and PlannerControl admits routers to Place / Remove, any certificate the
fleet's CA signed to GetPlan. Lifecycle: `start()` binds PlannerControl and starts the loops;
`stop(grace)` turns health NOT_SERVING, stops the loops, lets calls in progress finish.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import grpc
from prometheus_client import CollectorRegistry

from interfleet.errors import InvalidInput, ModelNotFound, RemoteError, ServingError, Unavailable
from interfleet.kserve.endpoint import GrpcEndpoint
from interfleet.kserve.status import domain_code
from interfleet.metrics_http import MetricsEndpoint
from interfleet.placement import Placement
from interfleet.proto import fleet_pb2, fleet_pb2_grpc
from interfleet.ready_file import write_ready_file
from interfleet.security.peer_identity import PeerIdentity
from interfleet.security.redis_access import redis_client
from interfleet.security.signing import fleet_sealer
from interfleet.supervision import Supervisor
from interfleet.telemetry.heartbeats import HeartbeatReader
from interfleet.telemetry.keys import FleetKeys
from planner.capacity import CapacityModel
from planner.config import PlannerConfig
from planner.live_fleet import demand_of, live_inputs, placement_of
from planner.metrics import PlannerCollector
from planner.milp import Infeasible
from planner.plan_file import to_json
from planner.planner import Planner
from planner.replan import Move, MoveBudget, ReplanGate, ordered_moves
from planner.servicer import PlannerControlServicer
from predictor.published_estimator import PublishedModelEstimator
from predictor.registry import ModelWatcher
from services.worker.stats import WINDOW_S as STATS_WINDOW_S

log = logging.getLogger(__name__)

GET_PLAN = f"/{fleet_pb2.DESCRIPTOR.services_by_name['PlannerControl'].full_name}/GetPlan"
HEADROOM = 1.25  # a live plan carries this multiple of the measured demand
MOVES_KEPT = 200


class PlannerService:
    def __init__(self, config: PlannerConfig, clock: Callable[[], float] = time.time):
        self.config = config
        self._clock = clock
        self.supervisor = Supervisor()
        self.states: list[fleet_pb2.WorkerState] = []
        # the band widens by the noise of the workers' windowed counts (light models jitter), and
        # a drift must hold on two checks in a row
        self.gate = ReplanGate(config.drift, config.cooldown_s, window_s=STATS_WINDOW_S, persist=2)
        self._moved_at = float("-inf")  # when the last move finished
        self.budget = MoveBudget(config.max_moves_per_minute)
        self.moves: collections.deque[fleet_pb2.Move] = collections.deque(maxlen=MOVES_KEPT)
        self.plan_json = ""
        self.planned_for: dict[str, float] = {}
        self.plans = 0  # re-plans made
        # "outcome" is "done", or the kind of refusal: "failed", "held", "deferred"
        self.move_counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._metrics: MetricsEndpoint | None = None
        self._endpoint: GrpcEndpoint | None = None
        self._heartbeats: HeartbeatReader | None = None
        self._predictor: ModelWatcher | None = None
        self._estimator: PublishedModelEstimator | None = None
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._client = None
        self._moving: set[str] = set()  # models with a place/remove in progress
        # (model, device name) -> batch latencies, as last measured: kept when a model leaves
        # every worker of a device, so a later plan may bring it back there
        self._profiles: dict[tuple[str, str], dict[int, float]] = {}
        self._target: _Target | None = None  # what the current plan moves the fleet toward

    @property
    def address(self) -> str:
        return self._endpoint.address if self._endpoint else ""

    async def start(self) -> None:
        config = self.config
        assert config.redis_url is not None  # checked by the config
        self._client = redis_client(config.redis_url, config.redis_password_file, socket_timeout=2)
        keys = FleetKeys(config.fleet)
        sealer = fleet_sealer(config.fleet_ca, None, None, signs=False)
        self._heartbeats = HeartbeatReader(self._client, keys, sealer, frozenset(config.allowed_workers))
        self._predictor = ModelWatcher(self._client, keys, sealer=sealer)
        self._estimator = PublishedModelEstimator(self._predictor, Path(config.model_repository))
        await self.refresh_once()

        def register(server: grpc.aio.Server) -> list[str]:
            fleet_pb2_grpc.add_PlannerControlServicer_to_server(PlannerControlServicer(self), server)
            return [fleet_pb2.DESCRIPTOR.services_by_name["PlannerControl"].full_name]

        # With mutual TLS, routers may place and remove; any certificate the CA signed may read.
        identity = PeerIdentity(open_methods=(GET_PLAN,), service="the planner")
        self._endpoint = GrpcEndpoint(
            config.host,
            config.port,
            register,
            config.tls.server_credentials(),
            [identity] if config.tls_client_ca else [],
        )
        await self._endpoint.start()
        registry = CollectorRegistry()
        registry.register(PlannerCollector(self))
        self._metrics = MetricsEndpoint(registry, config.host, config.metrics_port)
        await self._metrics.start()
        # The fleet file's placement counts as the first plan: no re-plan before a cool-down has
        # passed, so the first one sees traffic (at start the demand reads zero, and a plan for
        # zero would strip the fleet before the traffic came).
        self.gate.planned_at = self._clock()
        self.supervisor.loop("refresh", self.refresh_once, every_s=config.refresh_interval_s)
        if config.replan:
            self.supervisor.loop("replan", self.replan_once, every_s=config.replan_interval_s)
        write_ready_file(config.ready_file, address=self.address, metrics=self._metrics.address)
        log.info(
            "planner serving PlannerControl on %s (re-planning %s)",
            self.address,
            "on" if config.replan else "off",
        )

    async def refresh_once(self) -> None:
        assert self._heartbeats is not None and self._predictor is not None
        self.states = await self._heartbeats.read()
        await self._predictor.refresh_once()

    def _ready(self) -> list[fleet_pb2.WorkerState]:
        return [s for s in self.states if s.ready]

    def _stub(self, state: fleet_pb2.WorkerState) -> fleet_pb2_grpc.WorkerControlStub:
        channel = self._channels.get(state.address)
        if channel is None:
            credentials = self.config.worker_tls.channel_credentials()
            if credentials is None:
                channel = grpc.aio.insecure_channel(state.address)
            else:
                name = self.config.worker_tls_name
                options = [("grpc.ssl_target_name_override", name)] if name else []
                channel = grpc.aio.secure_channel(state.address, credentials, options=options)
            self._channels[state.address] = channel
        return fleet_pb2_grpc.WorkerControlStub(channel)

    def _record(self, move: Move, outcome: str) -> None:
        self.moves.append(
            fleet_pb2.Move(
                at=self._clock(),
                action=move.action,
                model=move.model,
                worker_id=move.worker_id,
                outcome=outcome,
            )
        )
        kind = outcome.split(":")[0]
        self.move_counts[(move.action, kind if kind in ("done", "held", "deferred") else "failed")] += 1
        log.info("move: %s %s on %s: %s", move.action, move.model, move.worker_id, outcome)

    async def _call(self, move: Move) -> fleet_pb2.WorkerState:
        state = next((s for s in self._ready() if s.worker_id == move.worker_id), None)
        if state is None:
            self._record(move, "UNAVAILABLE: the worker is not in the fleet's view")
            raise Unavailable(f"worker {move.worker_id} is not in the fleet's view")
        stub = self._stub(state)
        try:
            if move.action == "load":
                request = fleet_pb2.LoadModelRequest(name=move.model, max_batch_size=move.batch_cap)
                reply = await stub.LoadModel(request, timeout=self.config.move_timeout_s)
            else:
                request = fleet_pb2.UnloadModelRequest(name=move.model, drain_s=self.config.drain_s)
                reply = await stub.UnloadModel(request, timeout=self.config.move_timeout_s)
        except grpc.aio.AioRpcError as exc:
            self._record(move, f"{exc.code().name}: {exc.details()}")
            raise RemoteError(domain_code(exc.code()), exc.details() or exc.code().name) from None
        self._record(move, "done")
        self._moved_at = self._clock()
        self.states = [reply if s.worker_id == reply.worker_id else s for s in self.states]
        return reply

    def _hosts(self, model: str) -> list[str]:
        return [s.worker_id for s in self._ready() if any(m.name == model for m in s.models)]

    @contextlib.contextmanager
    def _moving_one(self, model: str) -> Iterator[None]:
        """One place or remove of a model at a time (and no re-plan meanwhile)."""
        if model in self._moving:
            raise Unavailable(f"model '{model}' is already being placed or removed")
        self._moving.add(model)
        try:
            yield
        finally:
            self._moving.discard(model)

    async def place(self, model: str, replicas: int = 0) -> list[str]:
        """Serve `model` on `replicas` workers (the config's number when 0); where it now is."""
        wanted = replicas or self.config.replicas
        if not model:
            raise InvalidInput("a model name is required")
        with self._moving_one(model):
            hosts = self._hosts(model)
            busy = {s.worker_id: sum(load.busy_fraction for load in s.load) for s in self._ready()}
            reasons = []
            for state in sorted(self._ready(), key=lambda s: (busy[s.worker_id], s.worker_id)):
                if len(hosts) >= wanted:
                    break
                if state.worker_id in hosts:
                    continue
                try:
                    await self._call(Move("load", model, state.worker_id))
                    hosts.append(state.worker_id)
                except RemoteError as exc:
                    reasons.append(f"{state.worker_id}: {exc.message}")
            if not hosts:
                if reasons and all("not in the repository" in r for r in reasons):
                    raise ModelNotFound(f"no worker's repository has model '{model}'")
                raise Unavailable(
                    f"no worker could load '{model}': {'; '.join(reasons) or 'no ready worker'}"
                )
            return sorted(hosts)

    async def remove(self, model: str) -> list[str]:
        """Unload `model` from every worker serving it (each drained first); where it was."""
        hosts = self._hosts(model)
        if not hosts:
            raise ModelNotFound(f"model '{model}' is not served by any worker")
        with self._moving_one(model):
            results = await asyncio.gather(
                *(self._call(Move("unload", model, w)) for w in hosts), return_exceptions=True
            )
        failed = [f"{w}: {r}" for w, r in zip(hosts, results) if isinstance(r, BaseException)]
        if failed:
            raise Unavailable(f"model '{model}' could not be unloaded everywhere: {'; '.join(failed)}")
        return sorted(hosts)

    def _estimate(self, placements: Sequence[Placement]) -> Sequence[float]:
        predicted = self._estimator(placements) if self._estimator is not None else None
        return predicted if predicted is not None else [1.0] * len(placements)

    async def replan_once(self) -> None:
        """Re-plan if the demand drifted (see the module docstring) and apply the moves; between
        re-plans, carry on toward the current plan's target (moves the budget deferred, unloads
        that waited for their new replica)."""
        now = self._clock()
        ready = self._ready()
        demand = demand_of(ready)
        if not ready or self._moving:
            return
        # Right after a move the workers' windows hold part of the traffic it shifted: the demand
        # is read again once a whole window has passed.
        settled = now - self._moved_at >= STATS_WINDOW_S
        if not settled or not self.gate.due(demand, now):
            if self._target is not None:
                moves, _ = ordered_moves(placement_of(ready), self._target.placement, self._target.in_use)
                await self._apply([m for m in moves if m not in self._target.given_up])
            return
        slots, terms, needs, profile = live_inputs(ready, self._profiles)
        if self._estimator is not None:
            await self._estimator.prepare(needs)
        if self._predictor is None or self._predictor.status != "ok":
            log.warning(
                "no usable degradation predictor: this plan assumes co-located models do not slow each other"
            )
        capacity = CapacityModel(needs, profile, self._estimate, hop_ms=0.5)
        planner = Planner(capacity, max_group=self.config.max_group)
        floor = self.gate.floor_rps
        wanted = {m: HEADROOM * max(demand.get(m, 0.0), floor) for m in needs}
        try:
            current = {w: frozenset(models) for w, models in placement_of(ready).items()}
            plan = planner.plan(slots, terms, wanted, objective="fewest-gpus", bound=False, keep=current)
        except Infeasible:
            try:
                plan = planner.plan(slots, terms, wanted, objective="max-scale", bound=False)
            except Infeasible as exc:
                log.warning("no placement serves every model in use: %s", exc)
                return
        target = {g.gpu_id: dict(zip(g.models, g.batch_caps)) for g in plan.gpus}
        in_use = frozenset(m for m, rate in demand.items() if rate >= floor) | frozenset(needs)
        moves, held = ordered_moves(placement_of(ready), target, in_use)
        for move in held:
            self._record(move, "held: the model's only replica")
        self._target = _Target(target, in_use)
        self.gate.planned(demand, now)
        self.plans += 1
        self.planned_for = dict(demand)
        self.plan_json = json.dumps(to_json(plan))
        log.info("re-planned for %s: %d workers used, %d moves", _rates(demand), plan.gpus_used, len(moves))
        await self._apply(moves)

    def _defer(self, move: Move, why: str) -> None:
        """Recorded once per plan: the move is tried again on the next pass."""
        if self._target is None or move not in self._target.noted:
            self._record(move, f"deferred: {why}")
        if self._target is not None:
            self._target.noted.add(move)

    def _give_up(self, move: Move) -> None:
        """Not tried again until the next plan (a failed load would fail on every pass)."""
        if self._target is not None:
            self._target.given_up.add(move)

    async def _apply(self, moves: Sequence[Move]) -> None:
        """Loads first: each worker's one after another (its warm-up measures the device alone),
        the workers at once. Then the unloads, at once, each only while another replica of the
        model serves: a load that failed or was deferred keeps the replica it was to replace.
        Every move is recorded; a deferred one is tried again on the next pass, a failed one
        (and the unload its failed load would have replaced) waits for the next plan."""
        hosts = {m.model: set(self._hosts(m.model)) for m in moves}
        queues: dict[str, list[Move]] = collections.defaultdict(list)
        waiting: set[str] = set()  # models whose new replica is deferred to a later pass
        for move in (m for m in moves if m.action == "load"):
            if self.budget.take(self._clock()):
                queues[move.worker_id].append(move)
            else:
                waiting.add(move.model)
                self._defer(move, "move budget spent")

        async def load_in_turn(queue: list[Move]) -> None:
            for move in queue:
                try:
                    await self._call(move)
                    hosts[move.model].add(move.worker_id)
                except ServingError:  # recorded by _call
                    self._give_up(move)

        await asyncio.gather(*(load_in_turn(q) for q in queues.values()))
        unloads = []
        for move in (m for m in moves if m.action == "unload"):
            if not hosts[move.model] - {move.worker_id}:
                if move.model in waiting:
                    self._defer(move, "waits for its new replica")
                else:
                    self._record(move, "held: no other replica serves the model")
                    self._give_up(move)
            elif not self.budget.take(self._clock()):
                self._defer(move, "move budget spent")
            else:
                hosts[move.model].discard(move.worker_id)
                unloads.append(move)

        async def unload(move: Move) -> None:
            try:
                await self._call(move)
            except ServingError:  # recorded by _call
                self._give_up(move)

        await asyncio.gather(*(unload(m) for m in unloads))

    def plan_state(self) -> fleet_pb2.PlanState:
        return fleet_pb2.PlanState(
            plan_json=self.plan_json,
            moves=list(self.moves),
            demand_rps=self.planned_for,
            planned_at=self.gate.planned_at if self.gate.planned_for is not None else 0.0,
        )

    async def stop(self, grace: float) -> None:
        if self._endpoint is not None:
            await self._endpoint.set_serving(False)
        await self.supervisor.stop()
        if self._endpoint is not None:
            await self._endpoint.stop(grace)
        for channel in self._channels.values():
            await channel.close()
        if self._client is not None:
            await self._client.aclose()
        if self._metrics is not None:
            await self._metrics.stop()
        log.info("planner stopped")


@dataclasses.dataclass
class _Target:
    placement: dict[str, dict[str, int]]  # worker -> {model: batch cap}
    in_use: frozenset[str]
    given_up: set[Move] = dataclasses.field(default_factory=set)
    noted: set[Move] = dataclasses.field(default_factory=set)  # deferrals already recorded


def _rates(demand: dict[str, float]) -> str:
    return ", ".join(f"{m} {r:.0f}/s" for m, r in sorted(demand.items())) or "no traffic"
