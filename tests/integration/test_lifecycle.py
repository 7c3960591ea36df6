"""Processes stop when told to and never outlive the fleet: a worker still warming up its models
honours SIGTERM at once; `interfleet up` killed outright leaves nothing running; a terminal's
Ctrl-C stops the fleet in order; an embedded Redis that dies is restarted."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request

import numpy as np
import pytest
import redis
import tritonclient.grpc as grpcclient
import yaml
from fleet_harness import Fleet, lone_worker_command, pid_alive, wait_until

from fleet.embedded_redis import free_port

pytestmark = pytest.mark.fleet


def test_a_worker_warming_up_stops_on_sigterm(zoo, tmp_path):
    # resnet18 warmed up at every batch size to 256 takes minutes on two cores.
    scratch = tmp_path / "repository"
    shutil.copytree(zoo / "resnet18", scratch / "resnet18")
    config = scratch / "resnet18" / "config.yaml"
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "max_batch_size": 256}))
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        lone_worker_command("resnet18", scratch, "--cpus", "0"),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(4.0)  # well into the warm-up: the model is loaded, batch sizes are being run
        assert worker.poll() is None, log.read_text()[-2000:]
        signalled = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=20)
        stopped_s = time.monotonic() - signalled
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    text = log.read_text()
    assert code == 0, text[-2000:]
    assert stopped_s < 5.0, f"took {stopped_s:.1f} s to stop\n{text[-2000:]}"
    assert "stop requested while starting" in text and "Traceback" not in text, text[-2000:]


ONE_WORKER = [{"worker_id": "w", "cpus": [0], "models": ["mlp"]}]


def test_kill_9_of_interfleet_up_leaves_no_process_behind(repository, tmp_path):
    fleet = Fleet(tmp_path, repository, ONE_WORKER).start()
    children = [*fleet.pids(), fleet.info["redis_pid"]]
    assert all(pid_alive(pid) for pid in children)
    fleet.process.kill()
    fleet.process.wait()
    assert wait_until(lambda: not any(pid_alive(pid) for pid in children), 15.0), [
        p for p in children if pid_alive(p)
    ]


def test_ctrl_c_reaches_the_supervisor_alone_and_the_fleet_stops_in_order(repository, tmp_path):
    fleet = Fleet(tmp_path, repository, ONE_WORKER).start()
    redis_pid = fleet.info["redis_pid"]
    os.killpg(fleet.process.pid, signal.SIGINT)  # what a terminal sends its foreground process group
    assert fleet.process.wait(60) == 0
    log = fleet.log.read_text()
    # Redis went last: the router and the worker deregistered into a live Redis.
    assert "Redis unreachable" not in log and "fleet stopped" in log, log[-3000:]
    assert not pid_alive(redis_pid)


def test_an_embedded_redis_that_dies_is_restarted_and_serving_goes_on(repository, tmp_path):
    fleet = Fleet(tmp_path, repository, ONE_WORKER).start()
    try:
        client = grpcclient.InferenceServerClient(fleet.address)
        tensor = grpcclient.InferInput("input", [1, 256], "FP32")
        tensor.set_data_from_numpy(np.zeros((1, 256), np.float32))
        os.kill(fleet.info["redis_pid"], signal.SIGKILL)
        store = redis.Redis.from_url(fleet.redis_url, socket_connect_timeout=0.5)
        assert wait_until(lambda: _pings(store), 15.0), fleet.log.read_text()[-3000:]
        assert wait_until(lambda: store.zcard("interfleet:test:workers") == 1, 10.0)  # the worker is back
        for _ in range(20):
            client.infer("mlp", [tensor])
        assert "restarting it, empty, on the same port" in fleet.log.read_text()
    finally:
        assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


def _pings(store: redis.Redis) -> bool:
    try:
        return bool(store.ping())
    except redis.RedisError:
        return False


def test_interfleet_up_serves_on_the_fleet_files_router_port(repository, tmp_path):
    """`router.port` in the fleet file is the router's port unless the command line says otherwise."""
    port = free_port()
    fleet = Fleet(tmp_path, repository, ONE_WORKER, router={"port": port}).start(router_port=None)
    try:
        assert fleet.address == f"127.0.0.1:{port}"
        assert grpcclient.InferenceServerClient(fleet.address).is_server_ready()
    finally:
        assert fleet.stop() == 0


def test_router_processes_share_its_ports_and_each_serves_clients(repository, tmp_path):
    """`router.processes: 2`: a second router binds the first one's (ephemeral) ports, the kernel
    spreads client connections over both, and both answer."""
    fleet = Fleet(tmp_path, repository, ONE_WORKER, router={"processes": 2}).start()
    try:
        routers = [fleet.info_of("router"), fleet.info_of("router-1")]
        assert routers[0]["address"] == routers[1]["address"] == fleet.address
        assert routers[0]["http"] == routers[1]["http"]
        assert routers[0]["metrics"] != routers[1]["metrics"]  # each its own
        tensor = grpcclient.InferInput("input", [1, 256], "FP32")
        tensor.set_data_from_numpy(np.ones((1, 256), np.float32))
        for _ in range(40):  # each on a connection of its own
            client = grpcclient.InferenceServerClient(
                fleet.address, channel_args=[("grpc.use_local_subchannel_pool", 1)]
            )
            client.infer("mlp", [tensor])
            client.close()
        answered = [successes(router["metrics"], "mlp") for router in routers]
        assert sum(answered) == 40 and min(answered) > 0, answered
    finally:
        assert fleet.stop() == 0


def successes(metrics_address: str, model: str) -> float:
    """A router's count of successful inference requests for `model`, from its /metrics."""
    text = urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=5).read().decode()
    found = re.search(rf'^nv_inference_request_success{{model="{model}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0
