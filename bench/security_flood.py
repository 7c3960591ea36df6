"""`make bench-security`, second part: 20,000 junk worker registrations against a secured fleet.

A fleet with an identity per service (the fleet CA, a certificate per worker, mutual TLS on the
hop, records signed), bearer tokens on the router's client port, two workers hosting mlp. The
router's latency (mlp, a closed loop of 4 callers for 4 s) is measured in three phases, three
rounds each: before, while 20,000 unsigned registrations fill the worker index (written with the
Redis admin password, as whoever holds a password that may write the index could), and after they
are removed. Refusals come from the router's metrics. Once, the same flood took the router's p99
from 8.9 to 249 ms and wrote 40,000 log lines a second.

Writes a JSON report (raw per-phase figures) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import redis
from bench_fleet import running_fleet
from tritonclient.grpc import service_pb2

from interfleet.kserve.service import method_path
from interfleet.proto import fleet_pb2
from interfleet.security.certs import make_fleet_credentials
from interfleet.telemetry.keys import FleetKeys
from interfleet.zoo.build import build_zoo

JUNK = 20_000
CALLERS = 4
SECONDS = 4.0


def refused_total(metrics_address: str) -> float:
    text = urllib.request.urlopen(f"http://{metrics_address}/metrics", timeout=5).read().decode()
    prefix = 'interfleet_router_refused_records_total{kind="worker"'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def latencies(address: str, token: str) -> list[float]:
    request = service_pb2.ModelInferRequest(model_name="mlp")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 256])
    request.raw_input_contents.append(np.zeros((1, 256), np.float32).tobytes())
    payload, metadata = request.SerializeToString(), (("authorization", f"Bearer {token}"),)
    channel = grpc.aio.insecure_channel(address)
    call = channel.unary_unary(method_path("ModelInfer"))
    took: list[float] = []
    stop = time.perf_counter() + SECONDS

    async def caller() -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            await call(payload, metadata=metadata, timeout=10)
            took.append((time.perf_counter() - started) * 1e3)

    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    await channel.close()
    return took


def flood(store: redis.Redis, keys: FleetKeys, ids: list[str]) -> None:
    junk = fleet_pb2.WorkerState(address="127.0.0.1:9", ready=True)
    junk.models.add(name="mlp", version="1")
    blob = junk.SerializeToString()
    with store.pipeline(transaction=False) as pipe:
        for worker_id in ids:
            pipe.set(keys.worker_state(worker_id), blob, px=600_000)
        pipe.zadd(keys.workers, {worker_id: time.time() + 3600 for worker_id in ids})  # the newest of all
        pipe.execute()


def clear(store: redis.Redis, keys: FleetKeys, ids: list[str]) -> None:
    with store.pipeline(transaction=False) as pipe:
        pipe.delete(*(keys.worker_state(i) for i in ids))
        pipe.zrem(keys.workers, *ids)
        pipe.execute()


def summary(took: list[float]) -> dict:
    ordered = sorted(took)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="docs/benchmarks/security/junk-registrations.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        build_zoo(root / "models", ["mlp"])
        certs = root / "certs"
        make_fleet_credentials(certs, [], workers=["w0", "w1"])
        token = secrets.token_urlsafe(24)
        (root / "tokens.txt").write_text(f"{token} infer\n")
        workers = [
            {
                "worker_id": w,
                "models": ["mlp"],
                "tls_cert": str(certs / "workers" / w / "cert.pem"),
                "tls_key": str(certs / "workers" / w / "key.pem"),
                "tls_client_ca": str(certs / "ca.pem"),
                "fleet_ca": str(certs / "ca.pem"),
            }
            for w in ("w0", "w1")
        ]
        settings = {
            "auth_tokens_file": str(root / "tokens.txt"),
            "metrics_port": 0,
            "tls_ca": str(certs / "ca.pem"),
            "worker_tls_name": "interfleet.fleet",
            "worker_tls_cert": str(certs / "router" / "cert.pem"),
            "worker_tls_key": str(certs / "router" / "key.pem"),
            "fleet_ca": str(certs / "ca.pem"),
        }
        with running_fleet(str(root / "models"), workers, router_settings=settings) as (supervisor, run_dir):
            router = json.loads((run_dir / "router.ready.json").read_text())
            store = redis.Redis.from_url(supervisor.redis_url)
            keys = FleetKeys("bench")
            ids = [f"junk{i}" for i in range(JUNK)]
            phases: dict[str, list[dict]] = {"before": [], "flooded": [], "cleared": []}
            for _ in range(args.rounds):
                phases["before"].append(summary(asyncio.run(latencies(router["address"], token))))
                counted = refused_total(router["metrics"])
                flood(store, keys, ids)
                time.sleep(1.0)  # a few refresh passes see it
                result = summary(asyncio.run(latencies(router["address"], token)))
                # Counted, each refused id once per recheck (RECHECK_REFUSED_S), while flooded.
                result["refused"] = round(refused_total(router["metrics"]) - counted)
                phases["flooded"].append(result)
                clear(store, keys, ids)
                time.sleep(1.0)
                phases["cleared"].append(summary(asyncio.run(latencies(router["address"], token))))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"junk": JUNK, "callers": CALLERS, "seconds": SECONDS, "phases": phases}, indent=2) + "\n"
    )
    print(f"{'phase':10} {'p50 ms (median)':>16} {'p99 ms (median, range)':>26}  refused (counted)")
    for name, results in phases.items():
        p99 = [r["p99_ms"] for r in results]
        print(
            f"{name:10} {statistics.median(r['p50_ms'] for r in results):>16.3f} "
            f"{statistics.median(p99):>12.3f} ({min(p99):.3f}-{max(p99):.3f})  "
            f"{[r.get('refused', '') for r in results]}"
        )


if __name__ == "__main__":
    main()
