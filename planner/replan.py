"""When to re-plan a live fleet, and in what order to move models so that capacity is kept.

`ReplanGate.due(demand, now)`: re-plan when the demand has drifted from the demand the current
placement was made for by more than `drift` (the largest relative change of any model's rate,
with rates under `floor_rps` counted as `floor_rps` so idle models do not flap), and at least
`cooldown_s` has passed since the last re-plan (hysteresis both ways: a small drift never
re-plans, a large one waits out the cool-down). A model that starts or stops receiving traffic
counts as a drift of 100%. With `window_s`, the window rates are counted over, a change must
also exceed counting noise: NOISE_Z standard errors of a Poisson count over that window
(`NOISE_Z / sqrt(rate x window_s)`, 45% at 4.5 req/s over 10 s, 9% at 100), so a light model's
jitter does not re-place the fleet. With `persist` > 1, the drift must be past the band on that
many checks in a row (a spike in one reading is not a shift in demand).

`ordered_moves(current, target, in_use)`: the moves from one placement to another, every load
before any unload (a new replica is ready before an old one drains), and never an unload that
would leave a model in use (`in_use`) with no replica; those are kept, and reported.

`MoveBudget`: at most `per_minute` moves in any sliding minute; the rest wait for the next pass.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Move:
    action: str  # "load" or "unload"
    model: str
    worker_id: str
    batch_cap: int = 0


NOISE_Z = 3.0


class ReplanGate:
    def __init__(
        self,
        drift: float = 0.25,
        cooldown_s: float = 60.0,
        floor_rps: float = 1.0,
        window_s: float = 0.0,
        persist: int = 1,
    ):
        self.drift = drift
        self.cooldown_s = cooldown_s
        self.floor_rps = floor_rps
        self.window_s = window_s
        self.persist = persist
        self._past = 0  # checks in a row past the band
        self.planned_for: dict[str, float] | None = None
        self.planned_at = float("-inf")

    def drift_of(self, demand: Mapping[str, float]) -> float:
        """The largest relative change of a model's rate since the plan (1.0 for a model that
        started or stopped receiving traffic); inf before the first plan. With `window_s`, each
        change is scaled by drift / its band (the band widened by the model's counting noise),
        so `drift_of(demand) > drift` says "past the band" either way."""
        if self.planned_for is None:
            return float("inf")
        worst = 0.0
        for model in set(demand) | set(self.planned_for):
            before, now = self.planned_for.get(model, 0.0), demand.get(model, 0.0)
            if (before >= self.floor_rps) != (now >= self.floor_rps):
                worst = max(worst, 1.0 / self.drift)
                continue
            base = max(before, self.floor_rps)
            band = max(self.drift, NOISE_Z / math.sqrt(base * self.window_s)) if self.window_s else self.drift
            worst = max(worst, abs(max(now, self.floor_rps) - base) / base / band)
        return worst * self.drift

    def due(self, demand: Mapping[str, float], now: float) -> bool:
        past = now - self.planned_at >= self.cooldown_s and self.drift_of(demand) > self.drift
        self._past = self._past + 1 if past else 0
        return past and (self.planned_for is None or self._past >= self.persist)

    def planned(self, demand: Mapping[str, float], now: float) -> None:
        self.planned_for = dict(demand)
        self.planned_at = now
        self._past = 0


def ordered_moves(
    current: Mapping[str, frozenset[str]],
    target: Mapping[str, Mapping[str, int]],
    in_use: frozenset[str],
) -> tuple[list[Move], list[Move]]:
    """(moves in order, unloads held back to keep a model in use served). `current`: worker ->
    models it serves; `target`: worker -> {model: batch cap} (0: its own)."""
    loads = [
        Move("load", m, w, cap)
        for w, wanted in sorted(target.items())
        for m, cap in sorted(wanted.items())
        if m not in current.get(w, frozenset())
    ]
    replicas = collections.Counter(m for models in current.values() for m in models)
    for move in loads:
        replicas[move.model] += 1
    unloads, held = [], []
    for w, models in sorted(current.items()):
        for m in sorted(models - set(target.get(w, {}))):
            if m in in_use and replicas[m] <= 1:
                held.append(Move("unload", m, w))
                continue
            replicas[m] -= 1
            unloads.append(Move("unload", m, w))
    return loads + unloads, held


class MoveBudget:
    def __init__(self, per_minute: int = 6):
        self.per_minute = per_minute
        self._spent: collections.deque[float] = collections.deque()

    def take(self, now: float) -> bool:
        """Whether one more move may start now (and count it if so)."""
        while self._spent and now - self._spent[0] >= 60.0:
            self._spent.popleft()
        if len(self._spent) >= self.per_minute:
            return False
        self._spent.append(now)
        return True
