"""Profiling emulated GPUs: co-located rows in the CPU profile's format, and a held-out split."""

from __future__ import annotations

from emulation.device_model import DeviceModel
from emulation.gpus import GPUS
from emulation.true_degradation import TrueDegradation
from emulation.workload import repository_workloads
from interfleet.zoo.architectures import ZOO
from predictor.emulated_profile import held_out, profile_emulated
from predictor.features import placement_of
from predictor.profiler import ROW_FIELDS


def test_rows_are_mostly_co_located_follow_the_device_and_split_cleanly(zoo):
    device = DeviceModel(seed=2)
    workloads = repository_workloads(zoo, sorted(ZOO))
    gpus = [GPUS["T4"], GPUS["H100"]]
    train = profile_emulated(device, workloads, gpus, seed=1, keep=lambda t, co: not held_out(t, co))
    test = profile_emulated(device, workloads, gpus, seed=2, keep=held_out)
    assert set(train[0]) == set(ROW_FIELDS)
    assert sum(1 for r in train if r["co_runners"]) / len(train) >= 0.2
    combination = lambda r: (r["target"], tuple(m for m, _, _ in r["co_runners"]))  # noqa: E731
    assert {combination(r) for r in test if r["co_runners"]}.isdisjoint(
        {combination(r) for r in train if r["co_runners"]}
    )
    # Each row's measured degradation is the device's expected one, up to sampling and jitter.
    truth = TrueDegradation(device, workloads)
    rows = [r for r in train if r["co_runners"]]
    expected = truth([placement_of(r) for r in rows])
    errors = sorted(abs(r["mean_ms"] / r["solo_ms"] / e - 1) for r, e in zip(rows, expected))
    assert errors[len(errors) // 2] < 0.05
