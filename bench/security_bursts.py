"""`make bench-security`: the router's memory under the bursts an attacker or a heavy client sends.

Two bursts against a fleet whose router requires bearer tokens (one worker with mlp and
tiny_cnn), each run a few times, the router's resident memory sampled every 10 ms from
`/proc/<pid>/status` (its growth over the idle figure just before the burst, and what is still
held a second after it):

- **unauthenticated**: 300 concurrent 12 MiB `ModelInfer` calls with no token, spread over 30
  connections. Every call must be answered (UNAUTHENTICATED, or RESOURCE_EXHAUSTED where the
  transport sheds it); the router must not read the bodies it is about to refuse. Target:
  growth under 300 MB.
- **valid**: 600 concurrent valid tiny_cnn requests of batch 32 (1.5 MiB each) with a token,
  over 30 connections; and the same tensors as 400 HTTP/REST posts (Triton's binary extension,
  one keep-alive connection each). Target: the router's peak resident memory within the Kubernetes router
  pod's 2 GiB limit. (Memory the allocator keeps after a burst shows as a higher idle figure in
  the next run, not as growth.)

Writes a JSON report (raw per-run figures) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import tritonclient.http as httpclient
from bench_fleet import running_fleet
from tritonclient.grpc import service_pb2

from interfleet.kserve.service import method_path
from interfleet.zoo.build import build_zoo

CONNECTIONS = 30


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class RssSampler:
    """The peak resident memory of a process while a block runs, polled every 10 ms."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self.peak = rss_mb(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def request_bytes(model: str, batch: int, width: tuple[int, ...], pad_to: int = 0) -> bytes:
    data = np.zeros((batch, *width), dtype=np.float32)
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="input", datatype="FP32", shape=list(data.shape))
    request.raw_input_contents.append(data.tobytes() + b"\0" * pad_to)
    return request.SerializeToString()


async def burst(address: str, payload: bytes, calls: int, token: str | None) -> collections.Counter:
    channels = [
        grpc.aio.insecure_channel(
            address,
            options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
        )
        for _ in range(CONNECTIONS)
    ]
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    outcomes: collections.Counter = collections.Counter()
    messages: dict[str, str] = {}

    async def one(i: int) -> None:
        call = channels[i % CONNECTIONS].unary_unary(method_path("ModelInfer"))
        try:
            await call(payload, metadata=metadata, timeout=60)
            outcomes["OK"] += 1
        except grpc.aio.AioRpcError as exc:
            outcomes[exc.code().name] += 1
            messages.setdefault(exc.code().name, exc.details())

    await asyncio.gather(*(one(i) for i in range(calls)))
    for channel in channels:
        await channel.close()
    return outcomes, messages


async def http_burst(url: str, body: bytes, header_length: int, calls: int, token: str) -> tuple:
    headers = {
        "Authorization": f"Bearer {token}",
        "Inference-Header-Content-Length": str(header_length),
        "Content-Type": "application/octet-stream",
    }
    outcomes: collections.Counter = collections.Counter()
    messages: dict[str, str] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def one() -> None:
            async with session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(60)
            ) as reply:
                text = await reply.read()
                name = "OK" if reply.status == 200 else f"HTTP {reply.status}"
                outcomes[name] += 1
                if reply.status != 200:
                    messages.setdefault(name, text.decode(errors="replace")[:200])

        await asyncio.gather(*(one() for _ in range(calls)))
    return outcomes, messages


def measure(pid: int, address: str, payload: bytes, calls: int, token: str | None, http: tuple = ()) -> dict:
    time.sleep(1.0)
    idle = rss_mb(pid)
    started = time.perf_counter()
    with RssSampler(pid) as sampler:
        if http:
            outcomes, messages = asyncio.run(http_burst(*http, calls, token))
        else:
            outcomes, messages = asyncio.run(burst(address, payload, calls, token))
    took = time.perf_counter() - started
    time.sleep(1.0)
    return {
        "idle_mb": round(idle, 1),
        "peak_mb": round(sampler.peak, 1),
        "peak_growth_mb": round(sampler.peak - idle, 1),
        "held_after_1s_mb": round(rss_mb(pid) - idle, 1),
        "seconds": round(took, 2),
        "answered": sum(outcomes.values()),
        "calls": calls,
        "outcomes": dict(outcomes),
        "messages": messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="docs/benchmarks/security/bursts.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        repository = Path(scratch) / "models"
        build_zoo(repository, ["mlp", "tiny_cnn"])
        token = secrets.token_urlsafe(24)
        tokens = Path(scratch) / "tokens.txt"
        tokens.write_text(f"{token} infer\n")
        workers = [{"worker_id": "w0", "models": ["mlp", "tiny_cnn"]}]
        # The cap a repository with a 12 MiB model gets (the zoo's largest request is 12.5 MiB):
        # the unauthenticated burst is within it, so the transport's size check does not refuse it.
        settings = {"auth_tokens_file": str(tokens), "max_message_bytes": 13 * 2**20}
        with running_fleet(str(repository), workers, http=True, router_settings=settings) as (
            supervisor,
            run_dir,
        ):
            router = json.loads((run_dir / "router.ready.json").read_text())
            pid, address = router["pid"], router["address"]
            junk = request_bytes("mlp", 1, (256,), pad_to=12 * 1024 * 1024)
            valid = request_bytes("tiny_cnn", 32, (3, 64, 64))
            # The same tensors as tritonclient.http sends them (the binary tensor extension).
            tensor = httpclient.InferInput("input", [32, 3, 64, 64], "FP32")
            tensor.set_data_from_numpy(np.zeros((32, 3, 64, 64), np.float32))
            body, header_length = httpclient.InferenceServerClient.generate_request_body([tensor])
            http = (f"http://{router['http']}/v2/models/tiny_cnn/infer", body, header_length)
            runs: dict[str, list[dict]] = {
                "unauthenticated_300x12MiB": [],
                "valid_600x1.5MiB": [],
                "valid_http_400x1.5MiB": [],
            }
            for _ in range(args.runs):
                runs["unauthenticated_300x12MiB"].append(measure(pid, address, junk, 300, None))
                runs["valid_600x1.5MiB"].append(measure(pid, address, valid, 600, token))
                runs["valid_http_400x1.5MiB"].append(measure(pid, address, b"", 400, token, http))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"connections": CONNECTIONS, "runs": runs}, indent=2) + "\n")
    print(f"{'burst':28} {'growth MB (median, max)':>24} {'peak RSS MB (max)':>18} {'answered':>9}  outcomes")
    for name, results in runs.items():
        growth = [r["peak_growth_mb"] for r in results]
        answered = f"{min(r['answered'] for r in results)}/{results[0]['calls']}"
        print(
            f"{name:28} {statistics.median(growth):>15.0f}, {max(growth):>6.0f} "
            f"{max(r['peak_mb'] for r in results):>18.0f} {answered:>9}  {[r['outcomes'] for r in results]}"
        )


if __name__ == "__main__":
    main()
