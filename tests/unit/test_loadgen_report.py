"""Summary arithmetic: goodput, SLO attainment (errors count as misses), percentiles."""

import numpy as np
import pytest

from loadgen.report import format_table, summarise
from loadgen.schedule import Schedule
from loadgen.sender import Outcomes


def test_summary_counts_and_rates():
    schedule = Schedule(
        times=np.linspace(0, 9, 10),
        model_index=np.array([0] * 6 + [1] * 4, dtype=np.int32),
        slo_ms=np.full(10, 10.0),
        models=("a", "b"),
        duration=10.0,
    )
    outcomes = Outcomes(
        send_lag_s=np.full(10, 0.0001),
        latency_s=np.array([0.001, 0.002, 0.003, 0.020, 0.004, np.nan, 0.001, 0.001, 0.050, 0.002]),
        status=["OK", "OK", "OK", "OK", "OK", "UNAVAILABLE", "OK", "OK", "DEADLINE_EXCEEDED", "OK"],
        worker=["w0"] * 5 + [""] + ["w1"] * 2 + [""] + ["w1"],
    )
    summary = summarise(schedule, outcomes, "t", "poisson:rate=1", 0)
    a, b, overall = summary["models"]["a"], summary["models"]["b"], summary["overall"]
    assert a["scheduled"] == 6 and a["ok"] == 5 and a["errors"] == {"UNAVAILABLE": 1}
    assert a["goodput_rps"] == pytest.approx(0.4)  # 4 of 6 within 10 ms, over 10 s
    assert a["slo_attainment"] == pytest.approx(4 / 6)
    assert b["errors"] == {"DEADLINE_EXCEEDED": 1} and b["slo_attainment"] == pytest.approx(3 / 4)
    assert overall["scheduled"] == 10 and overall["ok"] == 8 and overall["max_ms"] == pytest.approx(20.0)
    assert summary["served_by"] == {"w0": 5, "w1": 3}
    assert summary["send_lag"]["p99_ms"] == pytest.approx(0.1)
    assert "overall" in format_table(summary)


def test_throughput_is_over_the_span_until_the_last_answer():
    """A server that falls behind answers after the schedule ends; it gets no credit for that."""
    schedule = Schedule(
        times=np.array([0.0, 1.0]),
        model_index=np.zeros(2, dtype=np.int32),
        slo_ms=np.full(2, 1e6),
        models=("a",),
        duration=2.0,
    )
    outcomes = Outcomes(np.zeros(2), np.array([0.5, 7.0]), ["OK", "OK"], ["w", "w"])
    summary = summarise(schedule, outcomes, "t", "x", 0)
    assert summary["span_s"] == pytest.approx(8.0)
    assert summary["overall"]["offered_rps"] == pytest.approx(1.0)
    assert summary["overall"]["throughput_rps"] == pytest.approx(0.25)
