"""`interfleet predictor eval`: how well the predictor ranks and sizes latency under co-location.

Four splits of a profiled dataset:
- random: 5 folds over all rows (optimistic: a row's solo measurement, the base of its label,
  is shared with rows on the other side);
- grouped: 5 folds over solo measurements, (device, model, batch): rows sharing one are never
  on both sides, so the test rows' solo runs were never seen in training;
- leave one model out: each model held out of training entirely (as target *and* co-runner),
  then predicted as a target: a model the predictor has never seen;
- held-out degree: trained on placements with at most 2 co-runners, tested on those with 3.

Metrics, on predicted latency (solo x predicted degradation) against measured mean latency:
MAPE, the 90th percentile of absolute percentage error, and the Spearman correlation between
predicted and measured latency among the candidate placements of the same model and batch (the
ranking a router acts on), averaged over those groups. Baselines: no interference
(degradation 1), a linear model of degradation on summed co-runner and stressor load, as
gpulet-style schedulers use, and the same line fitted per (device, model, batch), as a
profile-per-placement scheduler would (falling back to the global line for a group it never
profiled, which is every group under the grouped split).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import spearmanr

from predictor.features import FeatureBuilder, placement_of
from predictor.model import DegradationModel, log_ratio

Predictor = Callable[[list[dict], list[dict]], np.ndarray]  # (train rows, test rows) -> degradation


class Prepared:
    """Rows with their features computed once."""

    def __init__(self, rows: list[dict], builder: FeatureBuilder):
        self.rows = rows
        self.features = builder.matrix([placement_of(r) for r in rows])
        self.index = {id(r): i for i, r in enumerate(rows)}

    def x(self, rows: Sequence[dict]) -> np.ndarray:
        return self.features[[self.index[id(r)] for r in rows]]


def lightgbm_predictor(prepared: Prepared) -> Predictor:
    def predict(train: list[dict], test: list[dict]) -> np.ndarray:
        model = fit(prepared, train)
        return model.predict(prepared.x(test))

    return predict


def fit(prepared: Prepared, rows: list[dict], info: dict | None = None) -> DegradationModel:
    y = log_ratio([r["mean_ms"] for r in rows], [r["solo_ms"] for r in rows])
    return DegradationModel.train(prepared.x(rows), y, info)


def no_interference(train: list[dict], test: list[dict]) -> np.ndarray:
    return np.ones(len(test))


def _summed_load(row: dict) -> float:
    return sum(load for _, _, load in row["co_runners"]) + row["stress_intensity"]


def linear_on_summed_load(train: list[dict], test: list[dict]) -> np.ndarray:
    design = np.array([[1.0, _summed_load(r)] for r in train])
    target = np.array([r["mean_ms"] / r["solo_ms"] for r in train])
    coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
    return np.array([[1.0, _summed_load(r)] for r in test]) @ coefficients


def _group(row: dict) -> tuple:
    """The solo measurement a row's label divides by."""
    return row.get("device"), row["target"], row["batch"]


def linear_per_group(train: list[dict], test: list[dict]) -> np.ndarray:
    fallback = linear_on_summed_load(train, test)
    by_group = collections.defaultdict(list)
    for r in train:
        by_group[_group(r)].append(r)
    out = np.array(fallback, dtype=float)
    for i, r in enumerate(test):
        members = by_group.get(_group(r), [])
        loads = [_summed_load(m) for m in members]
        if len(members) >= 2 and np.ptp(loads) > 0:
            design = np.array([[1.0, x] for x in loads])
            target = np.array([m["mean_ms"] / m["solo_ms"] for m in members])
            coefficients, *_ = np.linalg.lstsq(design, target, rcond=None)
            out[i] = coefficients[0] + coefficients[1] * _summed_load(r)
    return out


def score(test: list[dict], degradation: np.ndarray) -> dict:
    predicted = np.array([r["solo_ms"] for r in test]) * degradation
    measured = np.array([r["mean_ms"] for r in test])
    ape = np.abs(predicted - measured) / measured
    groups = collections.defaultdict(list)
    for i, r in enumerate(test):
        groups[r["target"], r["batch"]].append(i)
    rhos = []
    for members in groups.values():
        if len(members) >= 3 and np.ptp(measured[members]) > 0:
            if np.ptp(predicted[members]) == 0:  # a constant prediction ranks nothing
                rhos.append(0.0)
                continue
            rho = spearmanr(predicted[members], measured[members]).statistic
            if np.isfinite(rho):
                rhos.append(rho)
    return {
        "mape": float(ape.mean()),
        "p90_ape": float(np.percentile(ape, 90)),
        "spearman": float(np.mean(rhos)) if rhos else None,
        "rows": len(test),
    }


def splits(rows: list[dict], seed: int = 0) -> dict[str, list[tuple[list[dict], list[dict]]]]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(rows))
    folds = np.array_split(order, 5)
    random_split = [([rows[i] for i in order if i not in set(f)], [rows[i] for i in f]) for f in folds]
    groups = sorted({_group(r) for r in rows}, key=str)
    group_order = [groups[i] for i in rng.permutation(len(groups))]
    grouped = []
    for fold in np.array_split(np.arange(len(group_order)), 5):
        held = {group_order[i] for i in fold}
        grouped.append(([r for r in rows if _group(r) not in held], [r for r in rows if _group(r) in held]))
    models = sorted({r["target"] for r in rows})
    leave_one_out = []
    for held in models:
        train = [r for r in rows if r["target"] != held and held not in {m for m, _, _ in r["co_runners"]}]
        leave_one_out.append((train, [r for r in rows if r["target"] == held]))
    degree = [([r for r in rows if r["degree"] <= 2], [r for r in rows if r["degree"] == 3])]
    return {
        "random (5-fold)": random_split,
        "grouped by solo (5-fold)": grouped,
        "leave-one-model-out": leave_one_out,
        "held-out degree 3": degree,
    }


def noise_floor(rows: list[dict]) -> float:
    """The MAPE a perfect predictor would still score, from the measurements' own noise.

    Each row's degradation is a ratio of two sample means (co-located over solo); their relative
    standard errors combine, and a normal error's mean absolute value is 0.8 of its deviation.
    """
    solo = {
        (r.get("device"), r["target"], r["batch"]): r for r in rows if r["degree"] == 0 and not r["stress"]
    }
    errors = []
    for r in rows:
        reference = solo.get((r.get("device"), r["target"], r["batch"]))
        parts = [r["samples_ms"]] + (
            [reference["samples_ms"]] if reference is not None and reference is not r else []
        )
        relative = [np.std(s, ddof=1) / np.sqrt(len(s)) / np.mean(s) for s in parts]
        errors.append(np.sqrt(np.sum(np.square(relative))))
    return float(0.8 * np.mean(errors))


def evaluate(rows: list[dict], builder: FeatureBuilder, seed: int = 0) -> dict:
    prepared = Prepared(rows, builder)
    methods: dict[str, Predictor] = {
        "lightgbm": lightgbm_predictor(prepared),
        "no interference": no_interference,
        "linear (summed load)": linear_on_summed_load,
        "linear per placement": linear_per_group,
    }
    report: dict = {"noise floor (MAPE of a perfect predictor)": noise_floor(rows)}
    for split_name, parts in splits(rows, seed).items():
        if not any(test and train for train, test in parts):
            report[split_name] = {"skipped": "no rows to train or test on"}
            continue
        report[split_name] = {}
        for method, predict in methods.items():
            test_all, degradation_all = [], []
            for train, test in parts:
                if test and train:
                    test_all.extend(test)
                    degradation_all.append(predict(train, test))
            report[split_name][method] = score(test_all, np.concatenate(degradation_all))
    return report


def format_report(report: dict) -> str:
    lines = [f"{'split':<26}{'method':<22}{'MAPE':>8}{'p90 APE':>9}{'Spearman':>10}{'rows':>6}"]
    for split_name, methods in report.items():
        if not isinstance(methods, dict):
            lines.append(f"{split_name}: {100 * methods:.1f}%")
            continue
        if "skipped" in methods:
            lines.append(f"{split_name:<26}skipped: {methods['skipped']}")
            continue
        for method, m in methods.items():
            rho = f"{m['spearman']:.3f}" if m["spearman"] is not None else "-"
            lines.append(
                f"{split_name:<26}{method:<22}{100 * m['mape']:>7.1f}%{100 * m['p90_ape']:>8.1f}%"
                f"{rho:>10}{m['rows']:>6}"
            )
    return "\n".join(lines)
