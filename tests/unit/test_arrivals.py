"""Seeded arrival processes: their statistics, and the same seed giving the same schedule."""

import numpy as np
import pytest

from loadgen.arrivals import ArrivalSpec, synthetic_times
from loadgen.errors import LoadgenError
from loadgen.schedule import build_schedule, parse_mix


def times(spec: str, duration: float, seed: int = 1) -> np.ndarray:
    return synthetic_times(ArrivalSpec.parse(spec), duration, np.random.default_rng(seed))


def cv(t: np.ndarray) -> float:
    gaps = np.diff(t)
    return float(gaps.std() / gaps.mean())


def test_poisson_rate_and_cv():
    t = times("poisson:rate=200", 300)
    assert len(t) / 300 == pytest.approx(200, rel=0.02)
    assert cv(t) == pytest.approx(1.0, rel=0.03)
    assert (np.diff(t) >= 0).all() and t.max() < 300


@pytest.mark.parametrize("target_cv", [0.5, 3.0])
def test_gamma_cv(target_cv):
    t = times(f"gamma:rate=100,cv={target_cv}", 600)
    assert len(t) / 600 == pytest.approx(100, rel=0.05)
    assert cv(t) == pytest.approx(target_cv, rel=0.08)


def test_on_off_mean_rate_and_burstiness():
    t = times("onoff:on_rate=400,off_rate=20,on_s=1,off_s=3", 2000)
    assert len(t) / 2000 == pytest.approx((400 * 1 + 20 * 3) / 4, rel=0.08)
    assert cv(t) > 1.5  # far burstier than Poisson


def test_ramp_and_diurnal_shapes():
    ramp = times("ramp:start=10,end=200", 100)
    first, last = (ramp < 10).sum(), (ramp >= 90).sum()
    assert first / 10 == pytest.approx(19.5, rel=0.3) and last / 10 == pytest.approx(190.5, rel=0.1)
    day = times("diurnal:mean=100,amplitude=0.8,period_s=20", 200)
    assert len(day) / 200 == pytest.approx(100, rel=0.05)
    phase = np.mod(day, 20)
    assert (phase < 10).sum() > 2 * (phase >= 10).sum()  # the sine's high half carries most load


def test_same_seed_same_schedule_and_mix_weights():
    def build(seed):
        return build_schedule(
            ArrivalSpec.parse("poisson:rate=500"), parse_mix("a=3,b=1"), lambda m: 10.0, 40, seed
        )

    one, again, other = build(7), build(7), build(8)
    np.testing.assert_array_equal(one.times, again.times)
    np.testing.assert_array_equal(one.model_index, again.model_index)
    assert len(one) != len(other) or not np.array_equal(one.times, other.times)
    assert (one.model_index == 0).mean() == pytest.approx(0.75, abs=0.02)
    assert set(one.slo_ms) == {10.0}


def test_time_scale_compresses_a_process():
    slow = build_schedule(
        ArrivalSpec.parse("poisson:rate=100"), {"a": 1.0}, lambda m: 1.0, 100, 1, time_scale=1.0
    )
    fast = build_schedule(
        ArrivalSpec.parse("poisson:rate=100"), {"a": 1.0}, lambda m: 1.0, 100, 1, time_scale=0.5
    )
    assert len(fast) / len(slow) == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("uniform:rate=3", "unknown trace kind 'uniform'"),
        ("poisson:rate", "expected key=value"),
        ("poisson:rate=fast", "rate must be a number"),
        ("poisson:cv=2", "needs rate="),
    ],
)
def test_bad_specs_are_named(spec, message):
    with pytest.raises(LoadgenError, match=message):
        synthetic_times(ArrivalSpec.parse(spec), 1, np.random.default_rng(0))
