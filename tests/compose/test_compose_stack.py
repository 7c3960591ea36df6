"""docker-compose.yml brought up for real: the fleet tests through the published port, a 30 s load,
a model moved through the repository API (router, planner and workers over mutual TLS),
Prometheus and the dashboard's queries, Redis surviving a restart, and `down` leaving nothing behind.

The fleet tests imported below are the ones that need nothing but the router's address (no ready
files, no process ids), run unchanged against the containers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as tc
from compose_stack import ONE_SHOT, PROMETHEUS, RESULTS, ROOT
from integration.test_bad_input import (  # noqa: F401  # collected here, against the compose stack
    test_a_burst_beyond_capacity_is_answered_never_silently_cancelled,
    test_bad_request_status_and_message,
    test_client_deadline_is_honoured,
    test_raw_contents_that_do_not_fill_the_shape,
    test_unknown_version_and_unimplemented_methods,
    test_unparsable_request_bytes,
)
from integration.test_serving import (  # noqa: F401
    test_aio_stream,
    test_batch_of_two_equals_two_single_requests,
    test_health_subcommand_for_container_health_checks,
    test_int64_transformer_inputs,
    test_outputs_match_onnxruntime_and_name_the_worker,
    test_requested_output_subset,
    test_server_and_model_metadata,
    test_statistics_sum_over_workers,
    test_stream_answers_every_request_and_reports_errors_in_band,
    test_typed_contents_inputs,
)

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1200)]

SERVICES = {
    "fleet-secrets",
    "redis",
    "predictor",
    "planner",
    "router",
    "prometheus",
    "worker-cpu0",
    "worker-cpu1",
}
LOADGEN_MODELS = "tiny_cnn=3,mlp=3,transformer=2,mobilenet=1,resnet10=1"
LOADGEN_RATE = 20
# Dashboard queries that are empty in a run where nothing failed (a failure counter has no samples yet).
FAILURES_ONLY = {"Request rate per model / B"}


def prometheus(path: str, **params) -> dict:
    url = f"{PROMETHEUS}{path}?{urllib.parse.urlencode(params)}"
    return json.loads(urllib.request.urlopen(url, timeout=10).read())["data"]


def tiny_request() -> list[tc.InferInput]:
    tensor = tc.InferInput("input", [1, 3, 64, 64], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 3, 64, 64), np.float32))
    return [tensor]


def test_every_service_of_the_cpu_profile_runs_and_is_healthy(fleet):
    containers = fleet.containers()
    assert set(containers) == SERVICES, containers  # no GPU worker, no Grafana in this profile
    for service, state in containers.items():
        if service in ONE_SHOT:  # made the fleet's secrets and exited
            assert state["state"] == "exited" and state["exit"] == 0, (service, state)
            continue
        assert state["state"] == "running", (service, state)
        # The predictor serves nothing to probe (its health check is disabled); the rest have checks.
        assert state["health"] == ("" if service == "predictor" else "healthy"), (service, state)


def test_a_30_s_load_through_the_published_port_is_served_within_slo(fleet):
    out = RESULTS / "loadgen"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fleet",
            "loadgen",
            "--target",
            fleet.address,
            "--trace",
            f"poisson:rate={LOADGEN_RATE}",
            "--models",
            LOADGEN_MODELS,
            "--duration",
            "30",
            "--seed",
            "7",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((out / "summary.json").read_text())
    overall = summary["overall"]
    assert overall["scheduled"] > 0.8 * LOADGEN_RATE * 30
    assert overall["ok"] == overall["scheduled"] and overall["errors"] == {}, (
        overall
    )  # every request answered
    assert overall["slo_attainment"] >= 0.85, overall  # six containers share two cores here
    assert set(summary["served_by"]) == {"cpu0", "cpu1"}


def test_a_model_leaves_the_fleet_and_comes_back_through_the_repository_api(fleet):
    """tritonclient's unload_model / load_model: the router asks the planner, the planner the
    workers, each hop mutual TLS under the service's own identity (configs/compose.yaml)."""
    triton = tc.InferenceServerClient(fleet.address)
    triton.unload_model("mlp", client_timeout=60)
    index = {m.name: m for m in triton.get_model_repository_index().models}
    assert (index["mlp"].state, index["mlp"].reason) == ("UNAVAILABLE", "unloaded")
    assert not triton.is_model_ready("mlp")
    triton.load_model("mlp", client_timeout=180)
    assert triton.is_model_ready("mlp")
    x = tc.InferInput("input", [1, 256], "FP32")
    x.set_data_from_numpy(np.zeros((1, 256), np.float32))
    assert triton.infer("mlp", [x], client_timeout=10).as_numpy("logits").shape == (1, 10)


def test_prometheus_scrapes_router_and_workers_and_every_dashboard_query_has_data(fleet):
    targets = prometheus("/api/v1/targets")["activeTargets"]
    up = {}
    for target in targets:
        up.setdefault(target["labels"]["job"], []).append(target["health"])
    assert up.get("router") == ["up"] and up.get("workers") == ["up", "up"], targets
    assert up.get("planner") == ["up"], targets
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "interfleet.json").read_text())
    queries = {f"{p['title']} / {t['refId']}": t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    assert len(queries) >= 12
    empty = dict(queries)
    deadline = time.monotonic() + 60  # the rates need two scrapes inside their window
    while empty and time.monotonic() < deadline:
        empty = {
            name: expr
            for name, expr in empty.items()
            if not prometheus("/api/v1/query", query=expr)["result"]
        }
        if empty:
            time.sleep(5)
    assert set(empty) <= FAILURES_ONLY, f"dashboard queries with no data: {empty}"
    p99 = prometheus("/api/v1/query", query=queries["p99 latency per model / A"])["result"]
    assert {r["metric"]["model"] for r in p99} >= {"tiny_cnn", "mlp", "transformer"}
    # Triton's counters reach Prometheus under Triton's names, as Triton's own dashboards query them.
    for job in ("router", "workers"):
        assert prometheus("/api/v1/query", query=f'nv_inference_request_success{{job="{job}"}}')["result"]
    assert not prometheus("/api/v1/query", query="nv_inference_request_success_total")["result"]


def test_the_prometheus_console_shows_the_dashboard_and_is_screenshotted(fleet):
    """The same panels as Grafana's dashboard, rendered by Prometheus; a headless Chromium screenshot."""
    console = (ROOT / "deploy" / "prometheus" / "consoles" / "interfleet.html").read_text()
    shown = {expr for found in re.findall(r"expr: (\[.*\]),", console) for expr in json.loads(found)}
    shown |= {e.replace("'", '"') for e in re.findall(r'prom_query_drilldown" \(args "([^"]+)"', console)}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "interfleet.json").read_text())
    assert shown == {t["expr"] for p in dashboard["panels"] for t in p["targets"]}
    page = urllib.request.urlopen(f"{PROMETHEUS}/consoles/interfleet.html", timeout=10).read().decode()
    graphs = sum(p["type"] == "timeseries" for p in dashboard["panels"])
    assert page.count("new PromConsole.Graph") == graphs and "Workers in the router" in page
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no Chromium for the screenshot (Debian's chromium package)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1400,2400",
                "--virtual-time-budget=10000",
                f"--screenshot={RESULTS / 'dashboard.png'}",
                f"{PROMETHEUS}/consoles/interfleet.html",
            ],
            capture_output=True,
            timeout=120,
            check=True,
        )
    assert (RESULTS / "dashboard.png").stat().st_size > 50_000  # graphs drawn, not a blank page


def redis_cli(fleet, *args: str, password: bool = True) -> str:
    """redis-cli inside the redis container as the operator (user admin), its password from the
    secrets volume (read as root: the server's own uid reads only its folder); or with no user."""
    auth = 'REDISCLI_AUTH="$(cat /certs/operator/redis.password)" ' if password else ""
    user = "--user admin " if password else ""
    return fleet.compose(
        "exec", "-T", "--user", "0", "redis", "sh", "-c", f"{auth}redis-cli {user}{' '.join(args)}"
    ).stdout.strip()


def test_redis_data_survives_a_restart_and_the_fleet_keeps_serving(fleet):
    assert redis_cli(fleet, "GET", "anything", password=False).startswith(
        "NOAUTH"
    )  # the password is required
    sentinel = f"survives-{time.time_ns()}"
    redis_cli(fleet, "SET", "interfleet:compose-test:sentinel", sentinel)
    version_key = "interfleet:compose:predictor:version"
    published = redis_cli(fleet, "GET", version_key)
    assert published, "the predictor service published no model"
    # What workers and the predictor publish is signed, each with its own identity's key.
    assert redis_cli(fleet, "GETRANGE", "interfleet:compose:worker:cpu0", "0", "6") == "ifsig2:"
    assert redis_cli(fleet, "GETRANGE", "interfleet:compose:predictor:model", "0", "6") == "ifsig2:"
    # The roles' users may do only what their role does: a worker's password reads nothing.
    as_worker = 'REDISCLI_AUTH="$(cat /certs/workers/_pool/redis.password)" redis-cli --user worker GET x'
    assert "NOPERM" in fleet.compose("exec", "-T", "--user", "0", "redis", "sh", "-c", as_worker).stdout
    fleet.compose("restart", "redis", timeout=120)
    fleet.wait_healthy(60, {"redis"})
    assert redis_cli(fleet, "GET", "interfleet:compose-test:sentinel") == sentinel
    # Still there (the sentinel shows the data survived); the predictor retrains every 60 s and
    # may have published the next version meanwhile.
    survived = redis_cli(fleet, "GET", version_key)
    assert survived.isdigit() and int(survived) >= int(published), (published, survived)
    client = tc.InferenceServerClient(fleet.address)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert client.infer("tiny_cnn", tiny_request(), client_timeout=5).as_numpy("logits").shape == (
                1,
                10,
            )
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    fleet.wait_healthy(60)


def test_down_leaves_nothing_running(fleet):
    fleet.compose("down", timeout=300)
    assert fleet.containers() == {}
    networks = fleet.engine.docker(
        "network", "ls", "-q", "--filter", "label=com.docker.compose.project=interfleet"
    )
    assert networks.strip() == ""
