"""Online interference detection on synthetic latency series, with an injected clock."""

import pytest

from router.interference import InterferenceDetector


def feed(detector, clock, worker, predicted, observed, seconds, per_second=50, steady=None):
    """`worker` answers in `observed` ms; `steady` workers (if any) as predicted, interleaved."""
    for _ in range(int(seconds * per_second)):
        clock.now += 1.0 / per_second
        detector.observe(worker, predicted, observed)
        for other in steady or ():
            detector.observe(other, predicted, predicted)


def test_marks_a_persistently_slow_worker_corrects_it_and_clears_it_on_recovery(clock):
    detector = InterferenceDetector(clock=clock)
    feed(detector, clock, "w", predicted=10.0, observed=10.5, seconds=2, steady=["v"])
    assert not detector.interfered("w") and detector.correction("w") == 1.0
    feed(detector, clock, "w", predicted=10.0, observed=21.0, seconds=5, steady=["v"])  # an outside tenant
    assert detector.interfered("w") and not detector.interfered("v")
    assert detector.correction("w") == pytest.approx(2.0, rel=0.05)
    feed(
        detector, clock, "w", predicted=10.0, observed=14.3, seconds=5, steady=["v"]
    )  # 1.3x: hysteresis band
    assert detector.interfered("w")
    feed(detector, clock, "w", predicted=10.0, observed=10.2, seconds=5, steady=["v"])  # it leaves
    assert not detector.interfered("w") and detector.correction("w") == 1.0


def test_a_slowdown_of_the_whole_fleet_marks_no_worker_but_a_lone_worker_is_judged_alone(clock):
    detector = InterferenceDetector(clock=clock)
    for _ in range(300):  # the model misses something common to all: all 2x slow
        clock.now += 0.02
        for worker in ("a", "b", "c"):
            detector.observe(worker, 10.0, 20.0)
    assert not any(detector.interfered(w) for w in "abc")
    assert detector.excess("a") == pytest.approx(1.0)
    alone = InterferenceDetector(clock=clock)
    feed(alone, clock, "solo", predicted=10.0, observed=20.0, seconds=2)
    assert alone.interfered("solo")


def test_a_marked_worker_without_requests_gets_its_correction_lifted(clock):
    detector = InterferenceDetector(clock=clock, half_life_s=2.0)
    feed(detector, clock, "w", predicted=10.0, observed=30.0, seconds=3, steady=["v"])
    assert detector.correction("w") > 2.0
    clock.now += 9.0  # routed away: nothing observed there for 4.5 half-lives
    assert detector.interfered("w") and detector.correction("w") == 1.0


def test_a_burst_of_outliers_or_too_few_samples_do_not_mark(clock):
    detector = InterferenceDetector(clock=clock, min_samples=20)
    feed(detector, clock, "w", predicted=10.0, observed=30.0, seconds=0.3)  # 15 samples only
    assert not detector.interfered("w")
    steady = InterferenceDetector(clock=clock)
    feed(steady, clock, "v", predicted=10.0, observed=10.0, seconds=5, steady=["u"])
    feed(
        steady, clock, "v", predicted=10.0, observed=40.0, seconds=0.1, steady=["u"]
    )  # 5 slow answers in 100 ms
    feed(steady, clock, "v", predicted=10.0, observed=10.0, seconds=1, steady=["u"])
    assert not steady.interfered("v")


def test_network_jitter_on_sub_millisecond_requests_is_not_interference(clock):
    detector = InterferenceDetector(clock=clock)
    feed(detector, clock, "w", predicted=0.4, observed=1.0, seconds=5)  # 2.5x, but 0.6 ms of it
    assert not detector.interfered("w")


def test_workers_are_judged_apart_and_forgotten_when_they_leave(clock):
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


def test_at_a_cold_start_the_first_worker_with_evidence_waits_for_its_peers(clock):
    """Before the overhead is learnt every prediction is short: both workers answer 1.9x slower
    than predicted. The first to reach min_samples must not be judged against its predictions
    while the other is still gathering (it was marked, and its correction starved it of traffic)."""
    detector = InterferenceDetector(clock=clock)
    for step in range(40):
        clock.now += 0.02
        detector.observe("calm", 5.0, 9.5)
        if step % 4 == 0:  # the other gets a quarter of the traffic: 10 samples by now
            detector.observe("stressed", 5.0, 9.5)
    assert not detector.interfered("calm") and detector.correction("calm") == 1.0
    for _ in range(60):  # both gather enough: a common model error marks neither
        clock.now += 0.02
        detector.observe("calm", 5.0, 9.5)
        detector.observe("stressed", 5.0, 9.5)
    assert not detector.interfered("calm") and not detector.interfered("stressed")
    feed(detector, clock, "stressed", predicted=5.0, observed=19.0, seconds=3, steady=None)
    for _ in range(150):
        clock.now += 0.02
        detector.observe("calm", 5.0, 9.5)
        detector.observe("stressed", 5.0, 19.0)
    assert detector.interfered("stressed") and not detector.interfered("calm")


def test_a_worker_in_view_that_has_not_answered_yet_is_waited_for_then_not(clock):
    """At a start every request may go to one worker; its peer in view has simply not been sent
    any. It is waited for (4 half-lives), then the worker is judged alone, against its predictions."""
    detector = InterferenceDetector(clock=clock)
    detector.track(["calm", "stressed"])
    feed(detector, clock, "calm", predicted=5.0, observed=9.5, seconds=2)  # 100 answers, 1.9x
    assert not detector.interfered("calm")
    feed(detector, clock, "calm", predicted=5.0, observed=9.5, seconds=7)  # 9 s: no peer came
    assert detector.interfered("calm")
