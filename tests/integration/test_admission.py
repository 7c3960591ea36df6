"""Admission at the transport, and restarting routers one at a time behind round_robin without a failure.

Real processes throughout: `interfleet up` (Redis, a worker, its router), more routers over the
same fleet, and tritonclient as the client.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from fleet_harness import Fleet, wait_until
from tritonclient.utils import InferenceServerException

from fleet.embedded_redis import free_port
from interfleet.kserve.client_channel import channel_args, target

pytestmark = pytest.mark.fleet

ONE_WORKER = [{"worker_id": "w0", "models": ["mlp"]}]


def served(metrics: str) -> float:
    """Requests a router has answered successfully, from its /metrics."""
    text = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5).read().decode()
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("nv_inference_request_success")
    )


def mlp_input() -> grpcclient.InferInput:
    tensor = grpcclient.InferInput("input", [1, 256], "FP32")
    tensor.set_data_from_numpy(np.zeros((1, 256), np.float32))
    return tensor


def open_stream(address: str) -> tuple[grpcclient.InferenceServerClient, queue.Queue]:
    """A client holding one ModelStreamInfer call open (one answered request proves the server has it)."""
    client = grpcclient.InferenceServerClient(address)
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put(error))
    client.async_stream_infer("mlp", [mlp_input()])
    assert answers.get(timeout=10) is None
    return client, answers


def test_calls_beyond_max_concurrent_calls_are_refused_at_once_and_the_health_probe_still_passes(
    repository, tmp_path
):
    fleet = Fleet(tmp_path, repository, ONE_WORKER, router={"max_concurrent_calls": 3}).start()
    streams = []
    try:
        streams = [open_stream(fleet.address) for _ in range(3)]  # the router holds 3 calls now
        client = grpcclient.InferenceServerClient(fleet.address)
        with pytest.raises(InferenceServerException) as refused:
            client.infer("mlp", [mlp_input()])
        assert refused.value.status() == "StatusCode.RESOURCE_EXHAUSTED"
        assert "Concurrent RPC limit exceeded" in refused.value.message()
        probe = subprocess.run(
            [sys.executable, "-m", "fleet", "health", "--address", fleet.address],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert probe.returncode == 0 and "overloaded" in probe.stdout, probe.stdout + probe.stderr
        # The held streams were not disturbed, and once one ends a new call is admitted.
        held, answers = streams.pop()
        held.async_stream_infer("mlp", [mlp_input()])
        assert answers.get(timeout=10) is None
        held.stop_stream()
        assert client.infer("mlp", [mlp_input()]).get_response().outputs
    finally:
        for held, _ in streams:
            held.stop_stream()
        assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


def test_a_rolling_restart_of_two_routers_behind_round_robin_fails_no_request(repository, tmp_path):
    fleet = Fleet(tmp_path, repository, ONE_WORKER, router={"drain_s": 0.3}).start()
    ports = [free_port(), free_port()]
    routers = {}

    def start(index: int) -> str:
        process, info = fleet.start_router(f"r{index}", ["--port", str(ports[index]), "--drain-s", "0.3"])
        routers[index] = process
        return info["metrics"]

    try:
        for index in range(2):
            start(index)
        client = grpcclient.InferenceServerClient(
            target([f"127.0.0.1:{p}" for p in ports]), channel_args=channel_args()
        )
        stop, outcomes = threading.Event(), []

        def send() -> None:
            while not stop.is_set():
                try:
                    client.infer("mlp", [mlp_input()], client_timeout=5.0)
                    outcomes.append("OK")
                except InferenceServerException as error:
                    outcomes.append(f"{error.status()}: {error.message()}")

        senders = [threading.Thread(target=send) for _ in range(4)]
        for sender in senders:
            sender.start()
        for index in range(2):  # one router at a time: drained, stopped, started again on its port
            before = len(outcomes)
            routers[index].send_signal(signal.SIGTERM)
            assert routers[index].wait(30) == 0
            metrics = start(index)
            assert len(outcomes) > before, "no request was answered while a router was down"
            # As an orchestrator waits for a new pod to take traffic before stopping the next one.
            assert wait_until(lambda m=metrics: served(m) > 0, 15.0), "clients never came back to the router"
        stop.set()
        for sender in senders:
            sender.join(30)
        failed = [o for o in outcomes if o != "OK"]
        assert not failed and len(outcomes) > 100, (len(outcomes), failed[:5])
    finally:
        for process in routers.values():
            process.terminate()
            process.wait(30)
        assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


def test_a_stopping_router_s_rest_port_turns_unready_serves_through_its_drain_then_closes(
    repository, tmp_path
):
    fleet = Fleet(tmp_path, repository, ONE_WORKER).start()
    process, info = fleet.start_router("draining", ["--drain-s", "2"])
    base = f"http://{info['http']}"
    body = json.dumps(
        {"inputs": [{"name": "input", "shape": [1, 256], "datatype": "FP32", "data": [0.0] * 256}]}
    ).encode()

    def status(path: str, data: bytes | None = None) -> int:
        try:
            with urllib.request.urlopen(urllib.request.Request(base + path, data=data), timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as error:
            return error.code

    try:
        assert status("/v2/health/ready") == 200
        process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: status("/v2/health/ready") == 400, 1.5), "readiness did not turn 400"
        assert status("/v2/models/mlp/infer", body) == 200  # still served while load balancers look away
        assert process.wait(30) == 0
        with pytest.raises(urllib.error.URLError):
            status("/v2/health/live")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert fleet.stop() == 0, fleet.log.read_text()[-3000:]
