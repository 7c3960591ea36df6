"""`interfleet loadgen` end to end against a real fleet: rows, summary, plots, compare, bad input."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.fleet


def loadgen(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fleet", "loadgen", *args], capture_output=True, text=True, timeout=timeout
    )


def test_run_writes_consistent_rows_summary_and_plots(fleet, tmp_path):
    runs = []
    for name, spec in (("poisson", "poisson:rate=80"), ("bursty", "gamma:rate=80,cv=3")):
        out = tmp_path / name
        done = loadgen(
            "--target",
            fleet.address,
            "--trace",
            spec,
            "--models",
            "tiny_cnn=2,mlp=1,transformer=1",
            "--duration",
            "3",
            "--seed",
            "4",
            "--out",
            str(out),
            "--no-progress",
            "--deadline",
        )
        assert done.returncode == 0, done.stderr
        runs.append(out)
        with (out / "requests.csv").open() as handle:
            rows = list(csv.DictReader(handle))
        summary = json.loads((out / "summary.json").read_text())
        overall = summary["overall"]
        assert overall["scheduled"] == len(rows) > 100
        assert overall["ok"] == sum(r["status"] == "OK" for r in rows)
        assert sum(m["scheduled"] for m in summary["models"].values()) == len(rows)
        assert sum(summary["served_by"].values()) == overall["ok"]
        assert {r["worker"] for r in rows if r["status"] == "OK"} <= {"core0", "core1", "both"}
        assert all(float(r["latency_ms"]) > 0 for r in rows if r["status"] == "OK")
        assert (out / "latency_cdf.png").stat().st_size > 10_000 and (
            out / "timeline.png"
        ).stat().st_size > 10_000
        assert "overall" in done.stdout and "send lag" in done.stdout

    plot = tmp_path / "compare.png"
    compared = loadgen("compare", *map(str, runs), "--plot", str(plot))
    assert compared.returncode == 0, compared.stderr
    assert "goodput_rps" in compared.stdout and "1.00x" in compared.stdout and plot.exists()


def test_same_seed_same_schedule_through_the_cli(fleet, tmp_path):
    scheduled = []
    for run in ("a", "b"):
        out = tmp_path / run
        done = loadgen(
            "--target",
            fleet.address,
            "--trace",
            "poisson:rate=50",
            "--models",
            "mlp",
            "--duration",
            "1",
            "--seed",
            "9",
            "--out",
            str(out),
            "--no-progress",
        )
        assert done.returncode == 0, done.stderr
        with (out / "requests.csv").open() as handle:
            scheduled.append([(r["scheduled_s"], r["model"]) for r in csv.DictReader(handle)])
    assert scheduled[0] == scheduled[1]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "resnet152"], "unknown model 'resnet152'"),
        (["--models", "mlp", "--trace", "csv:path=/nonexistent.csv"], "cannot read trace /nonexistent.csv"),
        (["--models", "mlp", "--out", "/proc/forbidden"], "cannot write to output folder /proc/forbidden"),
        (["--models", "mlp", "--target", "127.0.0.1:1"], "cannot reach target 127.0.0.1:1"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(fleet, tmp_path, args, message):
    base = {"--target": fleet.address, "--trace": "poisson:rate=10", "--out": str(tmp_path / "out")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    done = loadgen(*[x for pair in base.items() for x in pair], "--duration", "1", "--no-progress")
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
