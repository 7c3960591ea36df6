"""The router's latency histogram and SLO counter, as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from interfleet.metrics_exposition import exposition as text_exposition
from router.stats import LATENCY_BUCKETS_S, RouterCollector, RouterStats


def exposition(stats: RouterStats) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(
        RouterCollector(
            stats, workers_known=lambda: 2, view_age_s=lambda: 0.1, predictor=lambda: (0, "missing")
        )
    )
    samples = {}
    for line in text_exposition(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_answers_fill_cumulative_buckets_and_count_those_within_the_slo():
    stats = RouterStats()
    for seconds in (0.0004, 0.004, 0.004, 0.012, 3.0):
        stats.record_answer("mlp", seconds, slo_ms=10.0)
    samples = exposition(stats)
    bucket = 'interfleet_router_request_duration_seconds_bucket{le="%s",model="mlp"}'
    assert samples[bucket % "0.0005"] == 1
    assert samples[bucket % "0.005"] == 3  # cumulative: 0.0004 and both 0.004
    assert samples[bucket % "0.015"] == 4
    assert samples[bucket % "2.0"] == 4 and samples[bucket % "+Inf"] == 5
    assert samples['interfleet_router_request_duration_seconds_count{model="mlp"}'] == 5
    assert abs(samples['interfleet_router_request_duration_seconds_sum{model="mlp"}'] - 3.0204) < 1e-6
    assert samples['interfleet_router_request_within_slo_total{model="mlp"}'] == 3
    # Triton's counters under Triton's names exactly; our own keep Prometheus's `_total`.
    assert samples['nv_inference_request_success{model="mlp"}'] == 5


def test_a_latency_on_a_bucket_bound_falls_in_that_bucket_and_no_slo_means_nothing_missed():
    stats = RouterStats()
    stats.record_answer("tiny_cnn", LATENCY_BUCKETS_S[3], slo_ms=0.0)
    samples = exposition(stats)
    le = repr(LATENCY_BUCKETS_S[3])
    assert samples[f'interfleet_router_request_duration_seconds_bucket{{le="{le}",model="tiny_cnn"}}'] == 1
    assert samples['interfleet_router_request_within_slo_total{model="tiny_cnn"}'] == 1


def test_triton_counters_are_typed_and_named_as_triton_writes_them():
    stats = RouterStats()
    stats.record_answer("mlp", 0.001, slo_ms=10.0)
    registry = CollectorRegistry()
    registry.register(
        RouterCollector(
            stats, workers_known=lambda: 1, view_age_s=lambda: 0.1, predictor=lambda: (0, "missing")
        )
    )
    text = text_exposition(registry).decode()
    assert "# TYPE nv_inference_request_success counter\n" in text
    assert 'nv_inference_request_success{model="mlp"} 1.0\n' in text
    assert "nv_inference_request_success_total" not in text
    assert "# TYPE interfleet_router_request_within_slo_total counter" in text
