"""The degradation predictor: graph features, symmetry, a train/eval round trip, model files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from predictor_data import synthetic_rows

from interfleet.graph_features import model_features, multiply_accumulate_flops
from interfleet.placement import CoRunner, Placement
from predictor.evaluate import Prepared, evaluate, fit
from predictor.features import FEATURE_NAMES, FeatureBuilder, placement_of
from predictor.model import DegradationModel, ModelFormatError


def test_conv_net_flops_from_the_graph_match_a_hand_count(repository):
    features = model_features(repository / "tiny_cnn" / "model.onnx", batch_size=2)
    conv1 = 2 * 3 * 3 * 3 * 16 * 32 * 32
    conv2 = 2 * 16 * 3 * 3 * 32 * 16 * 16
    fc = 2 * 32 * 10
    assert multiply_accumulate_flops(features) == 2 * (conv1 + conv2 + fc)
    assert features.param_bytes == 4 * ((3 * 9 * 16 + 16) + (16 * 9 * 32 + 32) + (32 * 10 + 10))
    assert features.conv_flop_share > 0.9 and features.arithmetic_intensity > 1


def placement(co_runners, stress="", intensity=0.0) -> Placement:
    return Placement(
        "transformer",
        1,
        1.0,
        tuple(co_runners),
        cores=1,
        threads=1,
        l2_bytes=1 << 19,
        l3_bytes=1 << 25,
        stress=stress,
        stress_intensity=intensity,
    )


def test_co_runner_order_does_not_change_features_or_predictions(repository):
    builder = FeatureBuilder(repository)
    runners = [CoRunner("mlp", 4, 0.6), CoRunner("tiny_cnn", 1, 1.0), CoRunner("mlp", 1, 0.3)]
    rows = [
        builder.row(placement(order))
        for order in (runners, runners[::-1], [runners[1], runners[2], runners[0]])
    ]
    assert rows[0] == rows[1] == rows[2] and len(rows[0]) == len(FEATURE_NAMES)
    data = synthetic_rows(repository, n=80)
    model = fit(Prepared(data, builder), data)
    predictions = model.predict(np.array(rows))
    assert predictions[0] == predictions[1] == predictions[2]


def test_train_and_evaluate_round_trip_beats_the_baselines(repository):
    rows = synthetic_rows(repository)
    report = evaluate(rows, FeatureBuilder(repository))
    assert set(report) == {
        "noise floor (MAPE of a perfect predictor)",
        "random (5-fold)",
        "grouped by solo (5-fold)",
        "leave-one-model-out",
        "held-out degree 3",
    }
    assert "skipped" in report["held-out degree 3"]  # three models: no placement has three co-runners
    random_split = report["random (5-fold)"]
    assert random_split["lightgbm"]["mape"] < 0.10
    assert random_split["lightgbm"]["mape"] < random_split["no interference"]["mape"] / 2
    assert random_split["lightgbm"]["spearman"] > 0.8
    grouped = report["grouped by solo (5-fold)"]
    assert set(grouped) == {"lightgbm", "no interference", "linear (summed load)", "linear per placement"}
    assert grouped["lightgbm"]["mape"] < grouped["no interference"]["mape"]
    # Under the random split every test row's placement was profiled in training: the per-placement line fits it.
    assert random_split["linear per placement"]["mape"] <= random_split["linear (summed load)"]["mape"] + 1e-9


def test_saved_model_round_trips_and_bad_models_are_rejected(repository, tmp_path):
    rows = synthetic_rows(repository, n=60)
    builder = FeatureBuilder(repository)
    model = fit(Prepared(rows, builder), rows, {"version": 1})
    path = tmp_path / "model.json"
    model.save(path)
    loaded = DegradationModel.load(path)
    x = builder.matrix([placement_of(r) for r in rows[:5]])
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    legacy = json.loads(path.read_text())
    legacy["p95"] = legacy["mean"]  # saved by a build that trained a p95 model too
    np.testing.assert_allclose(DegradationModel.loads(json.dumps(legacy)).predict(x), model.predict(x))
    with pytest.raises(ModelFormatError, match="not a degradation model"):
        DegradationModel.loads("{not json")
    payload = model.dumps().replace('"features": [', '"features": ["extra", ', 1)
    with pytest.raises(ModelFormatError, match="features"):
        DegradationModel.loads(payload)


def test_the_shipped_model_matches_the_features_this_build_computes():
    """Changing the features without retraining (`make profile`) must fail here, not in a router."""
    from pathlib import Path

    shipped = Path(__file__).resolve().parents[2] / "predictor" / "models" / "reference.json"
    model = DegradationModel.load(shipped)
    assert model.info["features"] == list(FEATURE_NAMES)
    assert model.info["rows"] > 300 and model.info["provenance"]["machine"]["logical_cores"] >= 1


def test_candidate_scores_are_cached_until_the_co_location_state_changes(repository):
    from predictor.scoring import CandidateScorer

    rows = synthetic_rows(repository, n=80)
    builder = FeatureBuilder(repository)
    model = fit(Prepared(rows, builder), rows)
    scorer = CandidateScorer(model, builder, load_step=0.1)
    candidates = [placement([CoRunner("mlp", 1, 0.50)]), placement([CoRunner("tiny_cnn", 4, 1.0)])]
    first = scorer.degradation(candidates)
    np.testing.assert_allclose(first, model.predict(builder.matrix(candidates)))
    jitter = [placement([CoRunner("mlp", 1, 0.52)]), candidates[1]]  # within a load step
    np.testing.assert_array_equal(scorer.degradation(jitter), first)
    assert (scorer.hits, scorer.misses) == (1, 1)
    moved = [placement([CoRunner("mlp", 1, 0.9)]), candidates[1]]  # a real change on one
    rescored = scorer.degradation(moved)
    assert scorer.misses == 2
    assert rescored[1] == first[1]  # the unchanged candidate came from the cache
    np.testing.assert_allclose(rescored, model.predict(builder.matrix(moved)))
    assert scorer.degradation(list(reversed(moved))) == list(reversed(rescored))
    assert scorer.misses == 2  # cached one by one, whatever the order
