"""`make bench-peer`: the fleet against MLServer serving the same ONNX file, side by side in one run.

MLServer 1.7.1 is installed from PyPI into its own virtualenv (`.bench-venvs/mlserver`, made on
first use) with the same ONNX Runtime, and serves `tiny_cnn`'s model.onnx through a plain ONNX
Runtime custom runtime (`bench/mlserver/onnx_runtime.py`: one session, one intra-op thread, as
an interfleet worker's default). Both speak the KServe v2 gRPC protocol, so the same lean
grpc.aio caller of one pre-serialized request measures both, at concurrency 1 and 16, in rounds
that rotate the order. Three paths: MLServer, the fleet through its router (one worker), and that
worker called directly. MLServer runs with `parallel_workers: 0` (inference in its main process;
with its default of one inference process every request crosses a process boundary, slower for
a model this small) unless `--mlserver-parallel-workers` says otherwise; both servers may use
every core, neither is pinned.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import uvloop
from bench_fleet import running_fleet
from router_overhead import MODEL, run_rounds, write_report
from tritonclient.grpc import service_pb2, service_pb2_grpc

from interfleet.zoo.build import build_zoo

MLSERVER = ["mlserver==1.7.1", "onnxruntime==1.31.1", "numpy==2.4.6"]
RUNTIME = Path(__file__).parent / "mlserver" / "onnx_runtime.py"


def mlserver_venv(path: Path) -> Path:
    """MLServer's own virtualenv (its dependencies would clash with the fleet's pins)."""
    marker = path / ".installed"
    if not marker.exists():
        print(f"installing {', '.join(MLSERVER)} into {path} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [str(path / "bin" / "python"), "-m", "pip", "install", "--quiet", *MLSERVER], check=True
        )
        marker.write_text(" ".join(MLSERVER))
    return path / "bin" / "mlserver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mlserver_repository(root: Path, onnx: Path, parallel_workers: int) -> int:
    """Settings and one model folder for MLServer; returns its gRPC port."""
    grpc_port = free_port()
    (root / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "grpc_port": grpc_port,
                "http_port": free_port(),
                "metrics_port": free_port(),
                "parallel_workers": parallel_workers,
                "load_models_at_startup": True,
            }
        )
    )
    model_dir = root / MODEL
    model_dir.mkdir()
    shutil.copy(RUNTIME, model_dir / RUNTIME.name)
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": MODEL,
                "implementation": "onnx_runtime.OnnxRuntimeModel",
                "parameters": {"uri": str(onnx)},
            }
        )
    )
    return grpc_port


def wait_for_model(address: str, process: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"MLServer exited with {process.returncode}")
            try:
                if stub.ModelReady(service_pb2.ModelReadyRequest(name=MODEL), timeout=1.0).ready:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
    raise TimeoutError(f"MLServer did not serve {MODEL} within {timeout_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="per path, concurrency and round")
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--venv", default=".bench-venvs/mlserver")
    parser.add_argument("--mlserver-parallel-workers", dest="parallel_workers", type=int, default=0)
    parser.add_argument("--out", default="results/bench-peer.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build_zoo(Path(args.repository), [MODEL])
    executable = mlserver_venv(Path(args.venv).resolve())
    onnx = (Path(args.repository) / MODEL / "model.onnx").resolve()

    with (
        tempfile.TemporaryDirectory() as scratch,
        running_fleet(args.repository, [{"worker_id": "w0", "models": [MODEL]}]) as (supervisor, run_dir),
    ):
        port = mlserver_repository(Path(scratch), onnx, args.parallel_workers)
        log_path = Path(scratch) / "mlserver.log"
        log = log_path.open("w")
        mlserver = subprocess.Popen(
            [str(executable), "start", scratch],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": ""},
            process_group=0,
        )
        try:
            try:
                wait_for_model(f"127.0.0.1:{port}", mlserver)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{exc}; its log ends:\n{log_path.read_text()[-3000:]}") from None
            worker = json.loads((run_dir / "worker-w0.ready.json").read_text())["address"]
            paths = {
                "mlserver": f"127.0.0.1:{port}",
                "fleet": supervisor.router_address,
                "worker-direct": worker,
            }
            results = uvloop.run(run_rounds(paths, args.rounds, args.seconds))
        finally:
            mlserver.terminate()
            mlserver.wait(timeout=30)

    def ratio(path: str, key: str, concurrency: int) -> float:
        return results[f"{path}@c{concurrency}"][key] / results[f"mlserver@c{concurrency}"][key]

    report = {
        "model": MODEL,
        "rounds": args.rounds,
        "seconds_per_cell": args.seconds,
        "mlserver": {"packages": MLSERVER, "parallel_workers": args.parallel_workers},
        "results": results,
        "fleet_over_mlserver_throughput_at_c16": ratio("fleet", "throughput_rps", 16),
        "fleet_over_mlserver_p50_at_c1": ratio("fleet", "p50_ms", 1),
        "worker_over_mlserver_throughput_at_c16": ratio("worker-direct", "throughput_rps", 16),
        "worker_over_mlserver_p50_at_c1": ratio("worker-direct", "p50_ms", 1),
        "targets": {"throughput_ratio_at_c16": 2.0, "p50_ratio_at_c1": 0.6},
    }
    write_report(report, Path(args.out))
    print(
        f"fleet / MLServer: {report['fleet_over_mlserver_throughput_at_c16']:.2f}x the throughput at "
        f"concurrency 16 (goal >= 2x), {report['fleet_over_mlserver_p50_at_c1']:.2f}x the p50 at concurrency 1 "
        f"(goal <= 0.6x); the worker alone {report['worker_over_mlserver_throughput_at_c16']:.2f}x and "
        f"{report['worker_over_mlserver_p50_at_c1']:.2f}x"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
