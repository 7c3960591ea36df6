"""`make bench-router`: what the router hop costs, measured side by side in one run.

One worker hosts the tiny CNN; the same serialized request is sent straight to the worker,
through a bare forwarder (a grpc.aio server whose handler only awaits the same unary call on
the worker: the cost of any Python gRPC hop), through a router making a unary call to the
worker per request (`worker_streams: 0`, the hop before multiplexing), and through the router
as configured by default (requests multiplexed over long-lived streams), and through the same
router without its request byte budget (what the budget costs), at concurrency 1 and 16. Rounds
rotate the order of the paths so the machine's drift hits all alike. The client is a lean grpc.aio
caller of pre-serialized bytes, so what differs between paths is the hop alone.

The router's HTTP/REST port is measured beside its gRPC port: the same tensor as Triton's binary
extension (`Inference-Header-Content-Length`), posted by a lean aiohttp client over keep-alive
connections (one per caller). Its figures include the HTTP client's own cost, as a user's would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import time
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import tritonclient.http as httpclient
import uvloop
from bench_fleet import running_fleet, start_router
from tritonclient.grpc import service_pb2

from interfleet.kserve.service import method_path
from interfleet.zoo.build import build_zoo

MODEL = "tiny_cnn"


def bare_forwarder(worker: str, ports: multiprocessing.Queue) -> None:
    """The floor: a Python gRPC hop that does nothing but forward bytes."""

    async def serve() -> None:
        channel = grpc.aio.insecure_channel(worker)
        call = channel.unary_unary(method_path("ModelInfer"))

        async def forward(raw: bytes, context) -> bytes:
            return await call(raw)

        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    "inference.GRPCInferenceService",
                    {"ModelInfer": grpc.unary_unary_rpc_method_handler(forward)},
                ),
            )
        )
        ports.put(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        await server.wait_for_termination()

    uvloop.run(serve())


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
    address: str, payload: bytes, concurrency: int, seconds: float
) -> tuple[list[float], float]:
    """Closed loop: `concurrency` callers back to back for `seconds`; returns (latencies s, elapsed s).
    An address starting http:// is an HTTP/REST inference URL (`measure_http`)."""
    if address.startswith("http://"):
        return await measure_http(address, concurrency, seconds)
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method_path("ModelInfer"))
        for _ in range(50):  # warm the connection and both processes' code paths
            await call(payload)
        latencies: list[float] = []
        stop_at = time.perf_counter() + seconds

        async def caller():
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                await call(payload)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        return latencies, time.perf_counter() - started


def summarise(latencies: list[float], elapsed: float) -> dict:
    ms = np.array(latencies) * 1e3
    return {
        "requests": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "throughput_rps": len(ms) / elapsed,
    }


async def run_rounds(paths: dict[str, str], rounds: int, seconds: float) -> dict:
    payload = serialized_request()
    pooled = {(p, c): ([], 0.0) for p in paths for c in (1, 16)}
    names = list(paths)
    for round_index in range(rounds):
        order = names[round_index % len(names) :] + names[: round_index % len(names)]
        for concurrency in (1, 16):
            for path in order:
                latencies, elapsed = await measure(paths[path], payload, concurrency, seconds)
                kept, total = pooled[path, concurrency]
                pooled[path, concurrency] = (kept + latencies, total + elapsed)
    return {f"{path}@c{c}": summarise(*pooled[path, c]) for path, c in pooled}


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
        unary, unary_address = start_router(
            run_dir.parent / "fleet.yaml", supervisor.redis_url, "unary", run_dir, ["--worker-streams", "0"]
        )
        unbudgeted, unbudgeted_address = start_router(
            run_dir.parent / "fleet.yaml",
            supervisor.redis_url,
            "no-budget",
            run_dir,
            settings={"max_request_bytes_in_flight": 0},
        )
        try:
            paths = {
                "direct": worker,
                "bare-hop": f"127.0.0.1:{ports.get(timeout=30)}",
                "router-unary": unary_address,
                "router": supervisor.router_address,
                "router-no-budget": unbudgeted_address,
                "router-http": f"http://{supervisor.router_http_address}/v2/models/{MODEL}/infer",
            }
            results = uvloop.run(run_rounds(paths, args.rounds, args.seconds))
        finally:
            floor.terminate()
            for router in (unary, unbudgeted):
                router.terminate()
                router.wait()

    def added(path: str) -> float:
        return results[f"{path}@c1"]["p50_ms"] - results["direct@c1"]["p50_ms"]

    def kept(path: str) -> float:
        return results[f"{path}@c16"]["throughput_rps"] / results["direct@c16"]["throughput_rps"]

    report = {
        "model": MODEL,
        "rounds": args.rounds,
        "seconds_per_cell": args.seconds,
        "results": results,
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
        "targets": {"added_p50_ms_at_c1": 0.35, "throughput_ratio_at_c16": 0.85},
    }
    write_report(report, Path(args.out))
    print(
        f"router adds {added('router'):.3f} ms to p50 at concurrency 1 (target <= 0.35; with a unary call per "
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
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
