"""Online interference detection on synthetic latency series, with an injected clock."""

import pytest

from interfleet.router.interference import InterferenceDetector


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def feed(detector, clock, worker, predicted, observed, seconds, per_second=50):
    for _ in range(int(seconds * per_second)):
        clock.now += 1.0 / per_second
        detector.observe(worker, predicted, observed)


def test_marks_a_persistently_slow_worker_corrects_it_and_clears_it_on_recovery():
    clock = Clock()
    detector = InterferenceDetector(clock=clock)
    feed(detector, clock, "w", predicted=10.0, observed=10.5, seconds=2)
    assert not detector.interfered("w") and detector.correction("w") == 1.0
    feed(detector, clock, "w", predicted=10.0, observed=21.0, seconds=5)       # an outside tenant arrives
    assert detector.interfered("w")
    assert detector.correction("w") == pytest.approx(2.0, rel=0.05)
    feed(detector, clock, "w", predicted=10.0, observed=14.3, seconds=5)       # 1.3x: inside the hysteresis band
    assert detector.interfered("w")
    feed(detector, clock, "w", predicted=10.0, observed=10.2, seconds=5)       # it leaves
    assert not detector.interfered("w") and detector.correction("w") == 1.0


def test_a_burst_of_outliers_or_too_few_samples_do_not_mark():
    clock = Clock()
    detector = InterferenceDetector(clock=clock, min_samples=20)
    feed(detector, clock, "w", predicted=10.0, observed=30.0, seconds=0.3)     # 15 samples only
    assert not detector.interfered("w")
    steady = InterferenceDetector(clock=clock)
    feed(steady, clock, "v", predicted=10.0, observed=10.0, seconds=5)
    feed(steady, clock, "v", predicted=10.0, observed=40.0, seconds=0.1)      # 5 slow answers in 100 ms
    feed(steady, clock, "v", predicted=10.0, observed=10.0, seconds=1)
    assert not steady.interfered("v")


def test_network_jitter_on_sub_millisecond_requests_is_not_interference():
    clock = Clock()
    detector = InterferenceDetector(clock=clock)
    feed(detector, clock, "w", predicted=0.4, observed=1.0, seconds=5)         # 2.5x, but 0.6 ms of it
    assert not detector.interfered("w")


def test_workers_are_judged_apart_and_forgotten_when_they_leave():
    clock = Clock()
    detector = InterferenceDetector(clock=clock)
    for _ in range(200):
        clock.now += 0.02
        detector.observe("slow", 10.0, 25.0)
        detector.observe("fine", 10.0, 10.0)
    assert detector.interfered("slow") and not detector.interfered("fine")
    detector.forget("slow")
    assert not detector.interfered("slow") and detector.correction("slow") == 1.0
    with pytest.raises(ValueError):
        InterferenceDetector(mark_ratio=1.2, clear_ratio=1.5)
