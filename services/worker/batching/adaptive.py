"""Deadline-aware adaptive batching (after Proteus and PPipe).

Given the queue (oldest first, each request with its deadline) and the model's latency profile
on this device, each decision:

1. **Expires** requests that cannot meet their deadline even if run alone now
   (now + L(own items) > deadline): they are answered at once instead of after their time is gone.
2. **Sizes** the batch: among the head-of-queue prefixes that fit `max_batch_size` items, picks
   the one under which the most requests finish by their deadlines, counting this batch
   (finish = now + L(items)) and the next one formed from what is left (finishing L(rest)
   later), so a small batch that lets the rest make it beats a big one that makes all late.
   Among sizes that meet as many, it takes the shortest whose cost per item is within
   `min_gain` of the cheapest: a longer batch holds the device, and co-located models wait.
3. **Waits or runs.** It waits only when all of these hold: the batch is not full; the model
   is busy enough for throughput to matter (load = arrival rate x L(1) >= `min_load`); a bigger
   batch is cheaper per item on this device (throughput gain >= `min_gain`); the tightest
   deadline in the batch still leaves time to start later with one more item *and* one batch
   time of headroom, since co-located models can slow the batch beyond its profile
   (slack = deadline - 2 L(items + 1) - now > 0); and another request is expected within that
   slack (arrival rate x slack >= 1). It waits until that latest start, or the next arrival,
   whichever is first. Otherwise it runs what is queued now.

So a lone request at low load runs at once, a burst is served in batches as large as the
deadlines allow, and on a device where batching buys little (a CPU, whose profile is close to
linear in batch size) it batches what is already queued rather than delaying requests for it. Because the
profile follows observed batches, the decisions stay right when co-tenants slow the device down.
"""

from __future__ import annotations

import math

from services.worker.batching.base import Batcher, Decision, QueueView
from services.worker.batching.profile import LatencyProfile


class AdaptiveBatching(Batcher):
    name = "adaptive"

    def __init__(self, max_batch_size: int, slo_s: float, min_gain: float = 1.05, min_load: float = 0.5):
        super().__init__(max_batch_size, slo_s)
        self.min_gain = min_gain
        self.min_load = min_load

    def decide(self, queue: QueueView, profile: LatencyProfile) -> Decision:
        now, latency = queue.now, profile.latency
        expired = tuple(
            i
            for i, (deadline, items) in enumerate(zip(queue.deadlines, queue.items))
            if now + latency(items) > deadline
        )
        live = [i for i in range(len(queue.items)) if i not in set(expired)]
        if not live:
            return Decision(expired=expired)

        candidates = []  # (take, items, deadlines met now and by the next batch)
        total = 0
        for take, index in enumerate(live, start=1):
            total += queue.items[index]
            if total > self.max_batch_size and take > 1:
                break
            finish = now + latency(total)
            met = sum(1 for i in live[:take] if queue.deadlines[i] >= finish)
            rest, rest_items = [], 0
            for i in live[take:]:
                if rest_items + queue.items[i] > self.max_batch_size:
                    break
                rest.append(i)
                rest_items += queue.items[i]
            if rest:
                finish_next = finish + latency(rest_items)
                met += sum(1 for i in rest if queue.deadlines[i] >= finish_next)
            candidates.append((take, total, met))
        most = max(met for _, _, met in candidates)
        best = [(take, items) for take, items, met in candidates if met == most]
        cheapest = min(latency(items) / items for _, items in best)
        best_take = min(take for take, items in best if latency(items) / items <= cheapest * self.min_gain)
        chosen = live[:best_take]
        items = sum(queue.items[i] for i in chosen)

        busy = queue.arrival_rate * latency(1) >= self.min_load
        if items < self.max_batch_size and busy:
            tightest = min(
                queue.deadlines[i] if math.isfinite(queue.deadlines[i]) else queue.arrivals[i] + self.slo_s
                for i in chosen
            )
            latest_start = tightest - 2 * latency(items + 1)
            slack = latest_start - now
            gain = profile.throughput_gain(items + 1) / profile.throughput_gain(items)
            if slack > 0 and queue.arrival_rate * slack >= 1.0 and gain >= self.min_gain:
                return Decision(wait_until=latest_start, expired=expired)
        return Decision(take=best_take, expired=expired)
