"""LightGBM's single-row fast path gives what Booster.predict gives."""

import lightgbm as lgb
import numpy as np
import pytest

from predictor.row_predictor import RowPredictor


def test_fast_row_prediction_equals_booster_predict():
    rng = np.random.default_rng(3)
    features = rng.random((400, 6))
    labels = features @ rng.random(6) + np.sin(features[:, 0] * 6)
    booster = lgb.train(
        {"objective": "regression", "num_leaves": 7, "verbose": -1, "num_threads": 1},
        lgb.Dataset(features, labels),
        num_boost_round=40,
    )
    predict = RowPredictor(booster)
    rows = rng.random((25, 6))
    expected = booster.predict(rows, num_threads=1)
    assert [predict(list(row)) for row in rows] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="5 features"):
        predict([0.0] * 5)
