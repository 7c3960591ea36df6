"""The oracle: interference-aware routing with the emulated device model's true degradation."""

from __future__ import annotations

from pathlib import Path

from interfleet.emulation.device_model import DeviceModel
from interfleet.emulation.oracle import OracleEstimator
from interfleet.emulation.workload import repository_workloads
from interfleet.repository import list_models
from interfleet.router.policies.interference_aware import InterferenceAware


class Oracle(InterferenceAware):
    """Decides exactly as interference-aware does, with the degradation of each candidate read
    off the emulated device model (`interfleet.emulation.oracle`) instead of predicted, and no
    online correction (nothing outside the model interferes in an emulated fleet). Only for
    fleets of emulated GPUs, in evaluations: how far the learnt predictor is from perfect.
    `emulation_seed` and `emulation_sharing` must be the workers'.
    """

    name = "oracle"

    def __init__(self, repository: str = "model_repository", emulation_seed: int = 0, emulation_sharing: str = "mps",
                 oracle: OracleEstimator | None = None, **kwargs):
        if oracle is None:
            models = list_models(Path(repository))
            oracle = OracleEstimator(DeviceModel(emulation_seed, emulation_sharing),
                                     repository_workloads(Path(repository), models))
        super().__init__(**kwargs, estimator=oracle)
