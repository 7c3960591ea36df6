"""`make bench-peer`: the fleet against MLServer and KServe serving the same ONNX file, in one run.

Peers, each in its own virtualenv under `.bench-venvs/` (made on first use, from PyPI) with the
same ONNX Runtime, serving `tiny_cnn`'s model.onnx with one intra-op thread, as an interfleet
worker does:

- MLServer 1.7.1 through a plain ONNX Runtime custom runtime (`bench/mlserver/onnx_runtime.py`),
  configured as its documentation recommends for throughput, `debug: false`, in four settings:
  metrics on and off with `parallel_workers: 0` (inference in the main process), its default of
  one inference process (metrics off), and its adaptive batching on (`max_batch_size` 16,
  `max_batch_time` 2 ms; metrics off, `parallel_workers: 0`);
- KServe 0.21's own Python model server (`bench/kserve/onnx_model.py`: `kserve.ModelServer`,
  the reference implementation of the KServe v2 protocol, with a minimal ONNX Runtime
  `kserve.Model`), with its defaults and with its per-request latency logging off.

Beside them: the fleet as `make run` starts it (configs/local.yaml: three workers, the predictor
and the planner; ports made ephemeral), a fleet of the router and one worker, and that worker
called directly. Every path speaks the KServe v2 gRPC protocol, so the same lean grpc.aio caller
of one pre-serialized request measures all of them, at concurrency 1 and 16, in rounds that
rotate the order. No process is pinned; all share the machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import uvloop
import yaml
from bench_fleet import running_fleet
from router_overhead import MODEL, run_rounds, write_report
from tritonclient.grpc import service_pb2, service_pb2_grpc

from fleet.supervisor import FleetSupervisor
from interfleet.config_file import load_fleet_file, worker_ids
from interfleet.zoo.build import build_zoo

ONNX_RUNTIME = "onnxruntime==1.31.1"
PACKAGES = {
    # uvloop < 0.22: with newer ones MLServer 1.7.1's inference processes fail to start (no event loop).
    "mlserver": ["mlserver==1.7.1", ONNX_RUNTIME, "numpy==2.4.6", "uvloop==0.21.0"],
    "kserve": ["kserve==0.21.0", ONNX_RUNTIME],
}
MLSERVER_RUNTIME = Path(__file__).parent / "mlserver" / "onnx_runtime.py"
KSERVE_MODEL = Path(__file__).parent / "kserve" / "onnx_model.py"

# Each MLServer setting measured: settings.json and model-settings.json entries over the base.
MLSERVER_SETTINGS = {
    "mlserver-metrics-on": ({"parallel_workers": 0}, {}),
    "mlserver": ({"parallel_workers": 0, "metrics_endpoint": None}, {}),
    "mlserver-one-inference-process": ({"metrics_endpoint": None}, {}),  # parallel_workers: its default 1
    "mlserver-adaptive-batching": (
        {"parallel_workers": 0, "metrics_endpoint": None},
        {"max_batch_size": 16, "max_batch_time": 0.002},
    ),
}
KSERVE_SETTINGS = {
    "kserve-defaults": [],
    "kserve": ["--enable_latency_logging", "False"],
}


def peer_venv(root: Path, peer: str) -> Path:
    """A peer's own virtualenv (its dependencies would clash with the fleet's pins); its bin/."""
    path = root / peer
    marker = path / ".installed"
    packages = PACKAGES[peer]
    if not marker.exists() or marker.read_text() != " ".join(packages):
        print(f"installing {', '.join(packages)} into {path} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages], check=True
        )
        marker.write_text(" ".join(packages))
    return path / "bin"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlserver_repository(root: Path, onnx: Path, settings: dict, model_settings: dict) -> int:
    """Settings and one model folder for MLServer; returns its gRPC port."""
    grpc_port = free_port()
    base = {
        "debug": False,
        "host": "127.0.0.1",
        "grpc_port": grpc_port,
        "http_port": free_port(),
        "metrics_port": free_port(),
        "load_models_at_startup": True,
    }
    (root / "settings.json").write_text(json.dumps({**base, **settings}))
    model_dir = root / MODEL
    model_dir.mkdir()
    shutil.copy(MLSERVER_RUNTIME, model_dir / MLSERVER_RUNTIME.name)
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "onnx_runtime.OnnxRuntimeModel",
                "parameters": {"uri": str(onnx)},
                **model_settings,
            }
        )
    )
    return grpc_port


def wait_for_model(address: str, process: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"exited with {process.returncode}; its log ends:\n{log.read_text()[-3000:]}"
                )
            try:
                if stub.ModelReady(service_pb2.ModelReadyRequest(name=MODEL), timeout=1.0).ready:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise TimeoutError(f"{address} did not serve {MODEL} within {timeout_s:.0f} s")


@contextlib.contextmanager
def peers(venvs: Path, onnx: Path, scratch: Path) -> Iterator[dict[str, str]]:
    """Every peer server started and serving; yields their gRPC addresses by name."""
    mlserver = peer_venv(venvs, "mlserver") / "mlserver"
    kserve = peer_venv(venvs, "kserve") / "python"
    commands: dict[str, tuple[list[str], int]] = {}  # each peer's command line and gRPC port
    for name, (settings, model_settings) in MLSERVER_SETTINGS.items():
        (scratch / name).mkdir()
        port = mlserver_repository(scratch / name, onnx, settings, model_settings)
        commands[name] = ([str(mlserver), "start", str(scratch / name)], port)
    for name, flags in KSERVE_SETTINGS.items():
        (scratch / name).mkdir()
        port = free_port()
        command = [str(kserve), str(KSERVE_MODEL), MODEL, str(onnx), "--grpc_port", str(port)]
        commands[name] = ([*command, "--http_port", str(free_port()), *flags], port)
    started: list[tuple[str, subprocess.Popen, str, Path]] = []
    try:
        for name, (command, port) in commands.items():
            log = scratch / name / "server.log"
            with log.open("w") as output:  # the child keeps its own copy of the descriptor
                process = subprocess.Popen(
                    command,
                    cwd=scratch / name,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONPATH": ""},
                    process_group=0,
                )
            started.append((name, process, f"127.0.0.1:{port}", log))
        for name, process, address, log in started:
            try:
                wait_for_model(address, process, log)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{name}: {exc}") from None
        yield {name: address for name, _, address, _ in started}
    finally:
        for _, process, _, _ in started:
            process.terminate()
        for _, process, _, _ in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextlib.contextmanager
def make_run_fleet(config_path: str, repository: str, scratch: Path) -> Iterator[str]:
    """The fleet `make run` starts (its config, with ephemeral ports); yields the router's address."""
    config = load_fleet_file(config_path)
    config["model_repository"] = str(Path(repository).resolve())
    config["router"] = {**config.get("router", {}), "port": 0, "http_port": -1, "metrics_port": -1}
    if "planner" in config:
        config["planner"] = {**config["planner"], "port": 0, "metrics_port": -1}
    config["workers"] = [{**w, "port": 0, "metrics_port": -1} for w in config["workers"]]
    path = scratch / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    supervisor = FleetSupervisor(
        str(path),
        worker_ids(config),
        0,
        None,
        scratch / "run",
        log_level="WARNING",
        with_predictor="predictor" in config,
        with_planner="planner" in config,
    )
    try:
        supervisor.start()
        yield supervisor.router_address
    finally:
        supervisor.stop(grace=2.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="per path, concurrency and round")
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--config", default="configs/local.yaml", help="the fleet `make run` starts")
    parser.add_argument("--venvs", default=".bench-venvs")
    parser.add_argument("--out", default="results/bench-peer.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build_zoo(Path(args.repository), [MODEL])
    onnx = (Path(args.repository) / MODEL / "model.onnx").resolve()

    with (
        tempfile.TemporaryDirectory() as scratch,
        peers(Path(args.venvs).resolve(), onnx, Path(scratch)) as peer_addresses,
        make_run_fleet(args.config, args.repository, Path(scratch)) as fleet_address,
        running_fleet(args.repository, [{"worker_id": "w0", "models": [MODEL]}]) as (supervisor, run_dir),
    ):
        paths = {
            "fleet": fleet_address,
            "fleet-one-worker": supervisor.router_address,
            "worker-direct": json.loads((run_dir / "worker-w0.ready.json").read_text())["address"],
            **peer_addresses,
        }
        results = uvloop.run(run_rounds(paths, args.rounds, args.seconds))

    peer_names = list(MLSERVER_SETTINGS) + list(KSERVE_SETTINGS)
    best_throughput = max(peer_names, key=lambda p: results[f"{p}@c16"]["throughput_rps"])
    best_p50 = min(peer_names, key=lambda p: results[f"{p}@c1"]["p50_ms"])

    def over(path: str, peer: str, key: str, concurrency: int) -> float:
        return results[f"{path}@c{concurrency}"][key] / results[f"{peer}@c{concurrency}"][key]

    report = {
        "model": MODEL,
        "rounds": args.rounds,
        "seconds_per_cell": args.seconds,
        "peers": {
            "packages": PACKAGES,
            "mlserver_settings": {
                name: {"settings": {"debug": False, **s}, "model_settings": m}
                for name, (s, m) in MLSERVER_SETTINGS.items()
            },
            "kserve_flags": KSERVE_SETTINGS,
        },
        "fleet_config": args.config,
        "results": results,
        "best_peer_throughput_at_c16": best_throughput,
        "best_peer_p50_at_c1": best_p50,
        "fleet_over_best_peer_throughput_at_c16": over("fleet", best_throughput, "throughput_rps", 16),
        "fleet_one_worker_over_best_peer_throughput_at_c16": over(
            "fleet-one-worker", best_throughput, "throughput_rps", 16
        ),
        "fleet_minus_best_peer_p50_ms_at_c1": results["fleet@c1"]["p50_ms"]
        - results[f"{best_p50}@c1"]["p50_ms"],
        "fleet_one_worker_minus_best_peer_p50_ms_at_c1": results["fleet-one-worker@c1"]["p50_ms"]
        - results[f"{best_p50}@c1"]["p50_ms"],
        "targets": {
            "throughput_ratio_at_c16": 1.0,
            "moonshot_throughput_ratio_at_c16": 1.5,
            "p50_margin_ms": 0.25,
        },
    }
    write_report(report, Path(args.out))
    print(
        f"the fleet as `make run` starts it: {report['fleet_over_best_peer_throughput_at_c16']:.2f}x the best "
        f"peer's throughput at concurrency 16 ({best_throughput}; target >= 1.0, moonshot 1.5), p50 at "
        f"concurrency 1 {report['fleet_minus_best_peer_p50_ms_at_c1']:+.3f} ms against the best peer's "
        f"({best_p50}; target <= +0.25); router and one worker "
        f"{report['fleet_one_worker_over_best_peer_throughput_at_c16']:.2f}x and "
        f"{report['fleet_one_worker_minus_best_peer_p50_ms_at_c1']:+.3f} ms"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
