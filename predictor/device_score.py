"""The predictor scored against the emulated device's true degradation, on unseen combinations.

For placements whose (target, co-runner models) combination the predictor never trained on
(`emulated_profile.held_out`), it compares the predicted degradation with the device model's
expected one (`emulation.true_degradation`), per GPU type:

- MAPE: mean |predicted - true| / true;
- ranking: for each target model and batch, Spearman's correlation between the predicted and
  the true order of its candidate placements (co-runner sets at loads), the mean over groups,
  as routing and placement use the predictor to rank candidates; also per target model.

An emulation's figures, not a real GPU's.
"""

from __future__ import annotations

import collections

import numpy as np
from scipy.stats import spearmanr

from emulation.true_degradation import TrueDegradation
from predictor.features import FeatureBuilder, placement_of
from predictor.model import DegradationModel


def score_against_device(
    model: DegradationModel, features: FeatureBuilder, truth: TrueDegradation, rows: list[dict]
) -> dict:
    """Per GPU type (`device` of each row): rows, MAPE, mean ranking Spearman, and per model."""
    co_located = [r for r in rows if r["co_runners"]]
    placements = [placement_of(r) for r in co_located]
    predicted = model.predict(features.matrix(placements))
    true = truth(placements)
    if true is None:
        raise ValueError(
            "a placement the device model does not know (not an emulated GPU, or an unknown model)"
        )
    by_gpu: dict[str, list[int]] = collections.defaultdict(list)
    for i, r in enumerate(co_located):
        by_gpu[r["device"]].append(i)
    errors = [abs(p - t) / t for p, t in zip(predicted, true)]
    report = {}
    for gpu, indexes in sorted(by_gpu.items()):
        groups: dict[tuple[str, int], list[int]] = collections.defaultdict(list)
        by_model: dict[str, list[float]] = collections.defaultdict(list)
        for i in indexes:
            groups[(co_located[i]["target"], co_located[i]["batch"])].append(i)
            by_model[co_located[i]["target"]].append(errors[i])
        ranks: dict[str, list[float]] = collections.defaultdict(list)
        for (target, _), members in groups.items():
            guessed, actual = [predicted[i] for i in members], [true[i] for i in members]
            # A rank correlation needs three candidates, and means nothing where all of one side tie.
            if len(members) >= 3 and len(set(guessed)) > 1 and len(set(actual)) > 1:
                ranks[target].append(float(spearmanr(guessed, actual).statistic))
        report[gpu] = {
            "rows": len(indexes),
            "mape": round(float(np.mean([errors[i] for i in indexes])), 4),
            "spearman": round(float(np.mean([r for v in ranks.values() for r in v])), 3) if ranks else None,
            "spearman_by_model": {m: round(float(np.mean(v)), 3) for m, v in sorted(ranks.items())},
            "mape_by_model": {m: round(float(np.mean(v)), 4) for m, v in sorted(by_model.items())},
        }
    return report
