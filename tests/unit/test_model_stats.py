"""A worker's recent window per model: what it answered, what it was offered (answered or not),
and rates over the time it has served when that is shorter than the window."""

import pytest

from services.worker.stats import WINDOW_S, ModelStats


def test_offered_counts_the_requests_a_replica_could_not_answer():
    stats = ModelStats("m", "1")
    for i in range(30):
        stats.record_request(ok=i % 3 != 0, total_ns=2_000_000, queue_ns=0, now_s=100.0 + i * 0.1)
    stats.record_batch(1, 20, 102.9, 0, 1_000_000, 0)  # the 20 answered, in one batch
    p50, _, throughput, offered, busy = stats.window(103.0)
    assert offered == pytest.approx(30 / WINDOW_S) and throughput == pytest.approx(20 / WINDOW_S)
    assert p50 == pytest.approx(2.0) and busy == pytest.approx(0.001 / WINDOW_S)
    assert stats.window(100.0 + 2.9 + WINDOW_S + 0.1)[3] == 0.0  # all of it out of the window


def test_a_model_loaded_moments_ago_reads_its_rate_not_a_share_of_it():
    stats = ModelStats("m", "1")
    stats.serving_since(200.0)
    for i in range(40):
        stats.record_request(ok=True, total_ns=1_000_000, queue_ns=0, now_s=200.0 + i * 0.05)
    assert stats.window(202.0)[3] == pytest.approx(20.0)  # 40 in its first 2 s, not 40 / 10 s
    fresh = ModelStats("n", "1")
    fresh.serving_since(300.0)
    for at in (300.0, 300.05, 300.1):
        fresh.record_request(ok=True, total_ns=1_000_000, queue_ns=0, now_s=at)
    assert fresh.window(300.2)[3] == pytest.approx(3.0)  # never over less than a second
