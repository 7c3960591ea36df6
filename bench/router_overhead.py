"""`make bench-router`: what the router hop costs, measured side by side in one run.

One worker hosts the tiny CNN; the same serialized request is sent straight to the worker,
through a bare forwarder (a grpc.aio server whose handler only awaits the same unary call on
the worker: the cost of any Python gRPC hop), through a router making a unary call to the
worker per request (`worker_streams: 0`, the hop before multiplexing), through the router on
multiplexed gRPC streams (`worker_transport: grpc`), through the router as configured by default
(multiplexed streams on the worker's TCP frames port), and through the same router without its
request byte budget (what the budget costs), at concurrency 1 and 16; then the default router
against two router processes sharing one port (SO_REUSEPORT, as `router.processes: 2` runs them)
at concurrency 16 and 32 over four client connections. Rounds rotate the order of the paths so
the machine's drift hits all alike. The client is a lean grpc.aio
caller of pre-serialized bytes, so what differs between paths is the hop alone.

CPU per request is measured beside latency: each hop at a fixed rate well below saturation
(`--cpu-rate`, open loop), the CPU seconds its process and the worker's spent per 1,000 requests,
read from /proc. Beside the default router (multiplexed streams on the worker's TCP frames port)
stand the same router on gRPC streams (`worker_transport: grpc`), a grpc.aio server that answers
without forwarding (the floor of any Python gRPC server here), and, with `--baseline REV`, the
router of an earlier commit run from a git worktree against the same worker.

The router's HTTP/REST port is measured beside its gRPC port: the same tensor as Triton's binary
extension (`Inference-Header-Content-Length`), posted by a lean aiohttp client over keep-alive
connections (one per caller). Its figures include the HTTP client's own cost, as a user's would.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing
import os
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import tritonclient.http as httpclient
import uvloop
from bench_fleet import running_fleet, start_router
from tritonclient.grpc import service_pb2

from interfleet.kserve.service import method_path
from interfleet.runtime import settle_heap
from interfleet.zoo.build import build_zoo

MODEL = "tiny_cnn"
CONNECTIONS = 4  # client connections of the cells that compare one router process with two


async def serve_model_infer(
    handler: Callable[[bytes, object], Awaitable[bytes]], ports: multiprocessing.Queue, settle: bool = False
) -> None:
    """A bare grpc.aio server whose only method is ModelInfer, bytes in and out; its port goes to
    `ports`. With `settle`, its heap is settled once it serves, as a service's is."""
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "inference.GRPCInferenceService",
                {"ModelInfer": grpc.unary_unary_rpc_method_handler(handler)},
            ),
        )
    )
    ports.put(server.add_insecure_port("127.0.0.1:0"))
    await server.start()
    if settle:
        settle_heap()
    await server.wait_for_termination()


def bare_forwarder(worker: str, ports: multiprocessing.Queue) -> None:
    """The floor: a Python gRPC hop that does nothing but forward bytes."""

    async def serve() -> None:
        call = grpc.aio.insecure_channel(worker).unary_unary(method_path("ModelInfer"))

        async def forward(raw: bytes, context) -> bytes:
            return await call(raw)

        await serve_model_infer(forward, ports)

    uvloop.run(serve())


def echo_server(reply: bytes, ports: multiprocessing.Queue) -> None:
    """The floor of a Python gRPC server: a grpc.aio server answering `reply` without forwarding."""

    async def answer(raw: bytes, context) -> bytes:
        return reply

    uvloop.run(serve_model_infer(answer, ports, settle=True))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure_cpu(
    address: str, payload: bytes, rate: float, seconds: float, pids: list[int]
) -> list[float]:
    """Open loop at `rate` requests a second for `seconds`: CPU ms per request of each of `pids`."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method_path("ModelInfer"))
        for _ in range(50):
            await call(payload)
        before = [cpu_seconds(pid) for pid in pids]
        count = int(rate * seconds)
        started = time.perf_counter()
        calls = []
        for i in range(count):
            wait = started + i / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            calls.append(asyncio.ensure_future(call(payload)))
        await asyncio.gather(*calls)
        return [(cpu_seconds(pid) - b) / count * 1e3 for pid, b in zip(pids, before)]


async def run_cpu_rounds(
    paths: dict[str, tuple[str, int | None]], worker_pid: int, rounds: int, rate: float, seconds: float
) -> dict:
    """Each path's CPU per request and the worker's behind it, pooled over rotated rounds."""
    payload = serialized_request()
    spent = {path: ([], []) for path in paths}
    names = list(paths)
    for round_index in range(rounds):
        for path in names[round_index % len(names) :] + names[: round_index % len(names)]:
            address, pid = paths[path]
            hop_ms, worker_ms = await measure_cpu(
                address, payload, rate, seconds, [pid or worker_pid, worker_pid]
            )
            spent[path][0].append(hop_ms if pid else 0.0)
            spent[path][1].append(worker_ms)
    return {
        path: {
            "hop_cpu_ms_per_request": float(np.median(hop)),
            "hop_cpu_ms_spread": [min(hop), max(hop)],
            "worker_cpu_ms_per_request": float(np.median(worker)),
        }
        for path, (hop, worker) in spent.items()
    }


@contextlib.contextmanager
def baseline_worktree(rev: str | None):
    """A git worktree of commit `rev` (None: no baseline), removed afterwards."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), rev], check=True, capture_output=True
        )
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=False)


def serialized_request() -> bytes:
    request = service_pb2.ModelInferRequest(model_name=MODEL, id="bench")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
    request.raw_input_contents.append(
        np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32).tobytes()
    )
    return request.SerializeToString()


def http_request() -> tuple[bytes, dict[str, str]]:
    """The same request as tritonclient.http sends it (binary tensor extension): body and headers."""
    tensor = httpclient.InferInput("input", [1, 3, 64, 64], "FP32")
    tensor.set_data_from_numpy(np.random.default_rng(0).random((1, 3, 64, 64), dtype=np.float32))
    body, json_size = httpclient.InferenceServerClient.generate_request_body([tensor], request_id="bench")
    return body, {
        "Inference-Header-Content-Length": str(json_size),
        "Content-Type": "application/octet-stream",
    }


async def measure_http(url: str, concurrency: int, seconds: float) -> tuple[list[float], float]:
    """As `measure`, over HTTP/REST: `concurrency` callers, each on its own keep-alive connection."""
    body, headers = http_request()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def post() -> None:
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"{url}: HTTP {answer.status}")

        for _ in range(50):
            await post()
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def caller():
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                await post()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


async def measure(
    address: str, payload: bytes, concurrency: int, seconds: float, connections: int = 1
) -> tuple[list[float], float]:
    """Closed loop: `concurrency` callers back to back for `seconds`, spread over `connections`
    TCP connections; returns (latencies s, elapsed s). An address starting http:// is an HTTP/REST
    inference URL (`measure_http`)."""
    if address.startswith("http://"):
        return await measure_http(address, concurrency, seconds)
    # A local subchannel pool each: channels to one address would otherwise share a connection.
    channels = [
        grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(connections)
    ]
    try:
        calls = [channel.unary_unary(method_path("ModelInfer")) for channel in channels]
        for call in calls:
            for _ in range(50):  # warm the connection and both processes' code paths
                await call(payload)
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def caller(call):
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                await call(payload)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(caller(calls[i % connections]) for i in range(concurrency)))
        return latencies, time.perf_counter() - started
    finally:
        for channel in channels:
            await channel.close()


def summarise(latencies: list[float], elapsed: float) -> dict:
    ms = np.array(latencies) * 1e3
    return {
        "requests": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput_rps": len(ms) / elapsed,
    }


async def run_rounds(
    paths: dict[str, str],
    rounds: int,
    seconds: float,
    concurrencies: tuple[int, ...] = (1, 16),
    connections: int = 1,
) -> dict:
    """Every path at every concurrency, pooled over rounds that rotate the order of the paths."""
    payload = serialized_request()
    pooled = {(p, c): ([], 0.0) for p in paths for c in concurrencies}
    names = list(paths)
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for concurrency in concurrencies:
            for path in order:
                latencies, elapsed = await measure(paths[path], payload, concurrency, seconds, connections)
                kept, total = pooled[path, concurrency]
                pooled[path, concurrency] = (kept + latencies, total + elapsed)
    suffix = f"x{connections}" if connections > 1 else ""
    return {f"{path}@c{c}{suffix}": summarise(*pooled[path, c]) for path, c in pooled}


def write_report(report: dict, out: Path) -> None:
    """Write the report as JSON and print its table of paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{'path':<20}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}")
    for name, r in report["results"].items():
        print(
            f"{name:<20}{r['requests']:>10}{r['p50_ms']:>10.3f}{r['p99_ms']:>10.3f}{r['throughput_rps']:>10.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0, help="per path, concurrency and round")
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/bench-router.json")
    parser.add_argument("--cpu-rate", type=float, default=300.0, help="requests/s of the CPU measurement")
    parser.add_argument("--cpu-seconds", type=float, default=4.0, help="per path and round")
    parser.add_argument("--cpu-rounds", type=int, default=3)
    parser.add_argument("--baseline", help="also measure the router of this commit (a git worktree)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    build_zoo(Path(args.repository), [MODEL])

    with running_fleet(args.repository, [{"worker_id": "w0", "models": [MODEL]}], http=True) as (
        supervisor,
        run_dir,
    ):
        worker = json.loads((run_dir / "worker-w0.ready.json").read_text())["address"]
        ports: multiprocessing.Queue = multiprocessing.Queue()
        floor = multiprocessing.Process(target=bare_forwarder, args=(worker, ports), daemon=True)
        floor.start()

        def router(
            name: str, flags: tuple[str, ...] = (), settings: dict | None = None, code: Path | None = None
        ):
            """Another router over this fleet (see `bench_fleet.start_router`)."""
            return start_router(
                run_dir.parent / "fleet.yaml", supervisor.redis_url, name, run_dir, flags, settings, code
            )

        unary, unary_address = router("unary", ("--worker-streams", "0"))
        bare_address = f"127.0.0.1:{ports.get(timeout=30)}"
        echo = multiprocessing.Process(target=echo_server, args=(b"", ports), daemon=True)
        echo.start()
        echo_address = f"127.0.0.1:{ports.get(timeout=30)}"
        unbudgeted, unbudgeted_address = router("no-budget", settings={"max_request_bytes_in_flight": 0})
        on_grpc, on_grpc_address = router("grpc-streams", settings={"worker_transport": "grpc"})
        # Two router processes on one port (SO_REUSEPORT), as `router.processes: 2` runs them.
        shared, shared_address = router("shared-0", settings={"processes": 2})
        also_shared, _ = router("shared-1", ("--port", shared_address.rpartition(":")[2]), {"processes": 2})
        routers = [unary, unbudgeted, on_grpc, shared, also_shared]
        with baseline_worktree(args.baseline) as tree:
            try:
                paths = {
                    "direct": worker,
                    "bare-hop": bare_address,
                    "router-unary": unary_address,
                    "router-grpc-streams": on_grpc_address,
                    "router": supervisor.router_address,
                    "router-no-budget": unbudgeted_address,
                    "router-http": f"http://{supervisor.router_http_address}/v2/models/{MODEL}/infer",
                }
                cpu_paths = {
                    "direct": (worker, None),
                    "echo-server": (echo_address, echo.pid),
                    "bare-hop": (bare_address, floor.pid),
                    "router-grpc-streams": (on_grpc_address, on_grpc.pid),
                    "router": (supervisor.router_address, supervisor.router.process.pid),
                }
                if tree is not None:
                    baseline, baseline_address = router("baseline", code=tree)
                    routers.append(baseline)
                    paths["router-baseline"] = baseline_address
                    cpu_paths["router-baseline"] = (baseline_address, baseline.pid)
                results = uvloop.run(run_rounds(paths, args.rounds, args.seconds))
                several = {"router": supervisor.router_address, "router-2-processes": shared_address}
                results |= uvloop.run(
                    run_rounds(several, args.rounds, args.seconds, (16, 32), connections=CONNECTIONS)
                )
                worker_pid = supervisor.workers[0].process.pid
                cpu = uvloop.run(
                    run_cpu_rounds(cpu_paths, worker_pid, args.cpu_rounds, args.cpu_rate, args.cpu_seconds)
                )
            finally:
                floor.terminate()
                echo.terminate()
                for router in routers:
                    router.terminate()
                    router.wait()

    def added(path: str) -> float:
        return results[f"{path}@c1"]["p50_ms"] - results["direct@c1"]["p50_ms"]

    def kept(path: str) -> float:
        return results[f"{path}@c16"]["throughput_rps"] / results["direct@c16"]["throughput_rps"]

    def cpu_ratio(path: str, against: str) -> float | None:
        if path not in cpu or against not in cpu:
            return None
        return cpu[path]["hop_cpu_ms_per_request"] / cpu[against]["hop_cpu_ms_per_request"]

    def shared_gain(concurrency: int) -> float:
        cell = f"@c{concurrency}x{CONNECTIONS}"
        return (
            results[f"router-2-processes{cell}"]["throughput_rps"]
            / results[f"router{cell}"]["throughput_rps"]
        )

    report = {
        "model": MODEL,
        "rounds": args.rounds,
        "seconds_per_cell": args.seconds,
        "baseline": args.baseline,
        "connections_of_the_processes_cells": CONNECTIONS,
        "router_2_processes_throughput_ratio": {"c16": shared_gain(16), "c32": shared_gain(32)},
        "results": results,
        "cpu": {
            "rate_rps": args.cpu_rate,
            "seconds": args.cpu_seconds,
            "rounds": args.cpu_rounds,
            "paths": cpu,
        },
        "router_cpu_ratio_to_baseline": cpu_ratio("router", "router-baseline"),
        "router_cpu_ratio_to_grpc_streams": cpu_ratio("router", "router-grpc-streams"),
        "router_grpc_streams_added_p50_ms_at_c1": added("router-grpc-streams"),
        "router_grpc_streams_throughput_ratio_at_c16": kept("router-grpc-streams"),
        "router_added_p50_ms_at_c1": added("router"),
        "router_throughput_ratio_at_c16": kept("router"),
        "router_unary_added_p50_ms_at_c1": added("router-unary"),
        "router_unary_throughput_ratio_at_c16": kept("router-unary"),
        # What the request byte budget costs: the default router against one without it.
        "budget_added_p50_ms_at_c1": results["router@c1"]["p50_ms"]
        - results["router-no-budget@c1"]["p50_ms"],
        "budget_throughput_ratio_at_c16": results["router@c16"]["throughput_rps"]
        / results["router-no-budget@c16"]["throughput_rps"],
        "bare_hop_added_p50_ms_at_c1": added("bare-hop"),
        "bare_hop_throughput_ratio_at_c16": kept("bare-hop"),
        # HTTP/REST beside gRPC on the same router.
        "http_over_grpc_added_p50_ms_at_c1": results["router-http@c1"]["p50_ms"]
        - results["router@c1"]["p50_ms"],
        "http_over_grpc_throughput_ratio_at_c16": results["router-http@c16"]["throughput_rps"]
        / results["router@c16"]["throughput_rps"],
        "targets": {
            "added_p50_ms_at_c1": 0.25,
            "throughput_ratio_at_c16": 0.85,
            "cpu_ratio_to_baseline": 0.5,
        },
    }
    if "router-baseline@c1" in results:
        report["router_baseline_added_p50_ms_at_c1"] = added("router-baseline")
        report["router_baseline_throughput_ratio_at_c16"] = kept("router-baseline")
    write_report(report, Path(args.out))
    print(
        f"router adds {added('router'):.3f} ms to p50 at concurrency 1 (target <= 0.25; with a unary call per "
        f"request {added('router-unary'):.3f}; a bare Python gRPC hop {added('bare-hop'):.3f}); keeps "
        f"{kept('router'):.0%} of direct throughput at concurrency 16 (target >= 85%; unary "
        f"{kept('router-unary'):.0%}; bare hop {kept('bare-hop'):.0%})"
    )
    print(
        f"HTTP/REST on the same router: {report['http_over_grpc_added_p50_ms_at_c1']:+.3f} ms p50 at "
        f"concurrency 1 against gRPC, {report['http_over_grpc_throughput_ratio_at_c16']:.0%} of its throughput "
        "at concurrency 16"
    )
    print(
        f"the request byte budget: {report['budget_added_p50_ms_at_c1']:+.3f} ms p50 at concurrency 1, "
        f"{report['budget_throughput_ratio_at_c16']:.0%} of the unbudgeted router's throughput at concurrency 16"
    )
    print(f"{'CPU per request at ' + str(int(args.cpu_rate)) + ' req/s':<32}{'hop ms':>10}{'worker ms':>11}")
    for path, spent in cpu.items():
        print(
            f"{path:<32}{spent['hop_cpu_ms_per_request']:>10.3f}{spent['worker_cpu_ms_per_request']:>11.3f}"
        )
    if report["router_cpu_ratio_to_baseline"] is not None:
        print(
            f"router CPU per request: {report['router_cpu_ratio_to_baseline']:.2f}x the baseline router's "
            f"({args.baseline}; target <= 0.5), {report['router_cpu_ratio_to_grpc_streams']:.2f}x on gRPC streams"
        )
    print(
        f"two router processes on one port (SO_REUSEPORT), {CONNECTIONS} client connections: "
        f"{shared_gain(16):.2f}x one process's throughput at concurrency 16, {shared_gain(32):.2f}x at 32"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
