"""The degradation model: a LightGBM regressor of log mean degradation.

It is fitted to each placement's mean latency over its solo latency, and saved as LightGBM's
text format beside a small JSON header (feature names, version, what it was trained on), which
is what gets published and loaded. (A p95 model was trained beside it until nothing used it: the
router's deadline checks use the mean with the online correction; models saved with one still
load, and it is ignored.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np

from predictor.features import FEATURE_NAMES

PARAMS = {
    "num_leaves": 15,
    "min_data_in_leaf": 5,
    "learning_rate": 0.05,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,
    "verbose": -1,
}
ROUNDS = 400
# Prediction runs on the router's request path over a handful of rows: one thread. With more,
# OpenMP's threads wait for each other, and on a busy machine a descheduled one stretches a
# 70 us call to milliseconds (measured: 3.4 ms per call under load with the default threads).
PREDICT = {"num_threads": 1}


class ModelFormatError(ValueError):
    """A saved model that cannot be used (unparsable, or built for other features)."""


@dataclass
class DegradationModel:
    mean: lgb.Booster
    info: dict = field(default_factory=dict)

    @classmethod
    def train(
        cls, features: np.ndarray, log_degradation: np.ndarray, info: dict | None = None, rounds: int = ROUNDS
    ) -> DegradationModel:
        mean = lgb.train(
            {**PARAMS, "objective": "regression"},
            lgb.Dataset(features, log_degradation, feature_name=list(FEATURE_NAMES)),
            rounds,
        )
        return cls(mean, {"features": list(FEATURE_NAMES), **(info or {})})

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Mean degradation of each row: one batched call."""
        return np.exp(self.mean.predict(features, **PREDICT))

    def dumps(self) -> str:
        return json.dumps({"info": self.info, "mean": self.mean.model_to_string()})

    @classmethod
    def loads(cls, text: str | bytes) -> DegradationModel:
        try:
            payload = json.loads(text)
            mean = lgb.Booster(model_str=payload["mean"])
            info = payload.get("info", {})
        except (ValueError, KeyError, TypeError, lgb.basic.LightGBMError) as exc:
            raise ModelFormatError(f"not a degradation model: {exc}") from exc
        if mean.num_feature() != len(FEATURE_NAMES) or info.get("features") != list(FEATURE_NAMES):
            raise ModelFormatError(
                f"model expects {mean.num_feature()} features "
                f"({info.get('features')}), this build computes {len(FEATURE_NAMES)}"
            )
        return cls(mean, info)

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(self.dumps())

    @classmethod
    def load(cls, path: Path) -> DegradationModel:
        return cls.loads(Path(path).read_text())


def log_ratio(values: Sequence[float], solo: Sequence[float]) -> np.ndarray:
    return np.log(np.asarray(values, dtype=np.float64) / np.asarray(solo, dtype=np.float64))
