"""`make bench-predictor`: predictor time per routed request, scoring 3 candidate workers.

Placements come from the shipped dataset (a model's placements on the three device shapes). A
stream of requests is scored; every `--change-every` requests one candidate's co-location state
changes (a co-runner's load moves by a step), as it does when traffic shifts. Measured in this
one run: the stream's average with the cache (states that come back hit it again), the cost of a
hit and of a miss (one batched call over all candidates, rows built), and the conservative
per-request cost if every change were a state never seen before: (1 - m) hit + m miss with
m = 1 / change-every.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from interfleet.placement import CoRunner
from predictor.features import FeatureBuilder, placement_of
from predictor.model import DegradationModel
from predictor.profiler import read_dataset
from predictor.scoring import CandidateScorer


def candidate_sets(rows: list[dict]) -> list[list]:
    by_group: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        if row["co_runners"]:
            by_group.setdefault((row["target"], row["batch"]), {}).setdefault(row["device"], row)
    return [[placement_of(r) for r in devices.values()] for devices in by_group.values() if len(devices) == 3]


def shifted(placement, step: int):
    runners = list(placement.co_runners)
    first = runners[0]
    runners[0] = CoRunner(
        first.model, first.batch, round((first.load + 0.1 * (step % 5 + 1)) % 1.0 + 0.05, 2)
    )
    return dataclasses.replace(placement, co_runners=tuple(runners))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--change-every", type=int, default=20)
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/bench-predictor.json")
    args = parser.parse_args()
    model = DegradationModel.load(Path("predictor/models/reference.json"))
    builder = FeatureBuilder(Path(args.repository))
    sets = candidate_sets(read_dataset(Path("predictor/data/reference.csv")))
    scorer = CandidateScorer(model, builder)

    def stream():
        state = [list(s) for s in sets]
        for i in range(args.requests):
            if i and i % args.change_every == 0:
                which = state[i % len(state)]
                which[0] = shifted(which[0], i)
            yield state[i % len(state)]

    for candidates in sets:  # warm: graph features, LightGBM's first calls
        model.predict(builder.matrix(candidates))
    started = time.perf_counter()
    for candidates in stream():
        scorer.degradation(candidates)
    cached_us = (time.perf_counter() - started) / args.requests * 1e6
    started = time.perf_counter()
    for candidates in stream():
        model.predict(builder.matrix(candidates))
    miss_us = (time.perf_counter() - started) / args.requests * 1e6
    started = time.perf_counter()
    for _ in range(args.requests):
        scorer.degradation(sets[0])
    hit_us = (time.perf_counter() - started) / args.requests * 1e6
    m = 1 / args.change_every
    report = {
        "candidates": 3,
        "requests": args.requests,
        "change_every": args.change_every,
        "stream_hit_rate": scorer.hits / (scorer.hits + scorer.misses),
        "stream_us_per_request": cached_us,
        "hit_us": hit_us,
        "miss_us": miss_us,
        "conservative_us_per_request": (1 - m) * hit_us + m * miss_us,
        "target_us": 50,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(
        f"3 candidates per request, a state change every {args.change_every} requests: "
        f"{cached_us:.1f} us per request on the stream (hit rate {report['stream_hit_rate']:.0%}); "
        f"a hit costs {hit_us:.1f} us, a miss {miss_us:.1f} us (one batched call, rows built); if every change "
        f"were new: {report['conservative_us_per_request']:.1f} us per request. Target <= 50 us. "
        f"Written to {args.out}"
    )


if __name__ == "__main__":
    main()
