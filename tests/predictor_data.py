"""Synthetic profiling rows for predictor tests: a known interference law over the test zoo."""

from __future__ import annotations

import random

import numpy as np

from predictor.features import FeatureBuilder

MODELS = ("tiny_cnn", "mlp", "transformer")


def synthetic_rows(repository, n=240, seed=0) -> list[dict]:
    """Rows whose degradation follows a known law: each co-runner adds load x its relative FLOPs."""
    builder, rng = FeatureBuilder(repository), random.Random(seed)
    rows = []
    for _ in range(n):
        target, batch = rng.choice(MODELS), rng.choice((1, 4))
        degree = rng.randint(0, 3)
        co = [
            [m, rng.choice((1, 4)), rng.choice((0.3, 0.6, 1.0))]
            for m in rng.sample([m for m in MODELS if m != target], min(degree, 2))
        ]
        solo = builder.graph(target, batch).flops / 1e7
        slowdown = 1 + sum(
            load * builder.graph(m, b).flops / (builder.graph(m, b).flops + 5e6) for m, b, load in co
        )
        mean = solo * slowdown
        samples = list(mean * np.exp(np.random.default_rng(len(rows)).normal(0, 0.05, 12)))
        rows.append(
            {
                "target": target,
                "batch": batch,
                "solo_ms": solo,
                "mean_ms": mean,
                "p95_ms": float(np.percentile(samples, 95)),
                "degree": len(co),
                "co_runners": co,
                "stress": "",
                "stress_intensity": 0.0,
                "cores": 1,
                "threads": 1,
                "l2_bytes": 1 << 19,
                "l3_bytes": 1 << 25,
                "samples_ms": samples,
            }
        )
    return rows
