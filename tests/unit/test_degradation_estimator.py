"""The router's estimator: the published model while it is usable, None (fall back) otherwise."""

from pathlib import Path

from interfleet.placement import CoRunner, Placement
from predictor.model import DegradationModel
from predictor.published_estimator import PublishedModelEstimator

ROOT = Path(__file__).resolve().parents[2]


class Watcher:
    """Stands in for the ModelWatcher: what it has loaded from Redis, and its status."""

    def __init__(self, status="ok"):
        self.status = status
        self.version = 1
        self.model = DegradationModel.load(ROOT / "predictor/models/reference.json")


def placement(target, co=()):
    return Placement(
        target=target,
        batch=1,
        solo_ms=1.0,
        co_runners=tuple(CoRunner(m, 1, 1.0) for m in co),
        cores=1,
        threads=1,
        l2_bytes=1 << 20,
        l3_bytes=1 << 25,
    )


async def test_predicts_for_described_models_and_falls_back_otherwise(repository, tmp_path):
    watcher = Watcher()
    estimator = PublishedModelEstimator(watcher, repository)
    assert estimator([placement("mlp")]) is None  # graph features not computed yet
    await estimator.prepare(["mlp", "tiny_cnn", "resnet152"])  # resnet152 is not in the repository
    alone, crowded = estimator([placement("mlp"), placement("mlp", co=["tiny_cnn", "tiny_cnn"])])
    assert alone > 0 and crowded > 0
    assert estimator([placement("mlp", co=["resnet152"])]) is None
    watcher.status = "stale"
    assert estimator([placement("mlp")]) is None


async def test_a_missing_repository_does_not_stop_the_router(tmp_path):
    estimator = PublishedModelEstimator(Watcher(), tmp_path / "nowhere")
    await estimator.prepare(["mlp"])
    assert estimator([placement("mlp")]) is None
