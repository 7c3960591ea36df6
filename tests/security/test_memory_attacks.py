"""Memory no caller can exhaust, tried on real processes: a router that requires tokens, with the
message cap a repository holding a 12 MiB model would have, in front of one worker.

Each test is an attack that once worked: 300 tokenless 12 MiB calls held 4 GB of bodies the router
was about to refuse; a worker took 256 MiB messages whatever its models; a stream that never read
its replies grew a worker without bound. The bounds asserted are generous regression guards;
`make bench-security` measures the figures.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as tc
from fleet_harness import Fleet
from tritonclient.grpc import service_pb2

from interfleet.kserve.service import method_path
from interfleet.multiplex import frames
from interfleet.multiplex.links import INFER_METHOD

pytestmark = pytest.mark.fleet
UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


@pytest.fixture(scope="module")
def guarded(repository, tmp_path_factory):
    root = tmp_path_factory.mktemp("guarded")
    token = secrets.token_urlsafe(16)
    (root / "tokens.txt").write_text(f"{token} infer\n")
    fleet = Fleet(
        root,
        repository,
        [{"worker_id": "w0", "models": ["mlp", "tiny_cnn"]}],
        router={"auth_tokens_file": str(root / "tokens.txt"), "max_message_bytes": 13 * 2**20},
    )
    fleet.start()
    yield fleet, token
    assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


def rss_mb(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


class PeakRss:
    """The most a process's resident memory grew over its start figure while the block ran."""

    def __init__(self, pid: int):
        self.pid, self.growth_mb = pid, 0.0
        self._done = threading.Event()

    def _sample(self, start: float) -> None:
        while not self._done.is_set():
            self.growth_mb = max(self.growth_mb, rss_mb(self.pid) - start)
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self._thread = threading.Thread(target=self._sample, args=(rss_mb(self.pid),), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def mlp_request(pad_to: int = 0) -> bytes:
    request = service_pb2.ModelInferRequest(model_name="mlp")
    request.inputs.add(name="input", datatype="FP32", shape=[1, 256])
    request.raw_input_contents.append(np.zeros((1, 256), np.float32).tobytes() + b"\0" * pad_to)
    return request.SerializeToString()


def served(address: str, token: str | None = None) -> bool:
    data = np.zeros((1, 256), np.float32)
    tensor = tc.InferInput("input", [1, 256], "FP32")
    tensor.set_data_from_numpy(data)
    headers = {"authorization": f"Bearer {token}"} if token else None
    result = tc.InferenceServerClient(address).infer("mlp", [tensor], headers=headers, client_timeout=10)
    return result.as_numpy("logits").shape[0] == 1


def test_tokenless_large_calls_are_refused_without_their_bodies_being_read(guarded):
    fleet, token = guarded
    payload = mlp_request(pad_to=12 * 2**20)  # within the transport's 13 MiB cap

    async def burst() -> list[str]:
        channels = [grpc.aio.insecure_channel(fleet.address, options=UNLIMITED) for _ in range(10)]
        calls = [channels[i % 10].unary_unary(method_path("ModelInfer")) for i in range(100)]

        async def one(call) -> str:
            try:
                await call(payload, timeout=60)
                return "OK"
            except grpc.aio.AioRpcError as exc:
                return f"{exc.code().name}: {exc.details()}"

        outcomes = await asyncio.gather(*(one(c) for c in calls))
        for channel in channels:
            await channel.close()
        return outcomes

    with PeakRss(fleet.router()["pid"]) as peak:
        outcomes = asyncio.run(burst())
    assert set(outcomes) == {"UNAUTHENTICATED: missing 'authorization: Bearer <token>' metadata"}
    # Read, the 100 bodies alone would be 1.2 GB; unread, each waits in a 64 KB window.
    assert peak.growth_mb < 150, f"router grew {peak.growth_mb:.0f} MB refusing 100 x 12 MiB"
    assert served(fleet.address, token)


def test_a_worker_refuses_a_message_beyond_its_own_models_largest_request(guarded):
    fleet, _ = guarded
    worker = fleet.worker("w0")
    with grpc.insecure_channel(worker["address"], options=UNLIMITED) as channel:
        call = channel.unary_unary(method_path("ModelInfer"))
        with PeakRss(worker["pid"]) as peak, pytest.raises(grpc.RpcError) as caught:
            call(mlp_request(pad_to=40 * 2**20), timeout=30)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in caught.value.details()  # gRPC's own words, with both sizes
    assert peak.growth_mb < 100, f"worker grew {peak.growth_mb:.0f} MB refusing a 40 MiB message"
    assert served(worker["address"])


def test_a_stream_that_never_reads_its_replies_is_held_back_by_the_worker_s_window(guarded):
    fleet, _ = guarded
    worker = fleet.worker("w0")
    request = mlp_request()
    per_message = 1000
    messages = 300  # 300,000 frames, 330 MB, if nothing held the sender back

    async def flood() -> int:
        channel = grpc.aio.insecure_channel(worker["address"], options=UNLIMITED)
        stream = channel.stream_stream(INFER_METHOD)()
        sent, tags = 0, iter(range(1, messages * per_message + 1))
        try:
            for _ in range(messages):
                message = frames.join(
                    [frames.request_frame(next(tags), request, 30.0) for _ in range(per_message)]
                )
                await asyncio.wait_for(stream.write(message), timeout=2.0)
                sent += 1
        except TimeoutError:
            pass  # held back: the worker stopped reading
        finally:
            stream.cancel()
            await channel.close()
        return sent

    with PeakRss(worker["pid"]) as peak:
        sent = asyncio.run(flood())
    assert sent < messages, "every message was taken: nothing held the sender back"
    assert peak.growth_mb < 150, f"worker grew {peak.growth_mb:.0f} MB holding a stream that does not read"
    assert served(worker["address"])


def test_600_concurrent_large_valid_requests_are_all_answered_within_the_request_budget(guarded):
    fleet, token = guarded
    request = service_pb2.ModelInferRequest(model_name="tiny_cnn")
    request.inputs.add(name="input", datatype="FP32", shape=[32, 3, 64, 64])
    request.raw_input_contents.append(np.zeros((32, 3, 64, 64), np.float32).tobytes())  # 1.5 MiB
    payload = request.SerializeToString()
    metadata = (("authorization", f"Bearer {token}"),)

    async def burst() -> list[str]:
        channels = [grpc.aio.insecure_channel(fleet.address, options=UNLIMITED) for _ in range(30)]

        async def one(i: int) -> str:
            try:
                await channels[i % 30].unary_unary(method_path("ModelInfer"))(
                    payload, metadata=metadata, timeout=60
                )
                return "OK"
            except grpc.aio.AioRpcError as exc:
                return exc.code().name

        outcomes = await asyncio.gather(*(one(i) for i in range(600)))
        for channel in channels:
            await channel.close()
        return outcomes

    with PeakRss(fleet.router()["pid"]) as peak:
        outcomes = asyncio.run(burst())
    # Every call answered: served, or refused for load (the worker's queue, the call limit).
    assert set(outcomes) <= {"OK", "RESOURCE_EXHAUSTED"} and outcomes.count("OK") >= 300, outcomes
    # Unbounded, the 600 once took the router to 2.4 GB; the budget holds 768 MiB of requests.
    assert peak.growth_mb < 1200, f"router grew {peak.growth_mb:.0f} MB under 600 x 1.5 MiB"


def test_the_rest_port_shares_the_request_budget(guarded):
    import aiohttp
    import tritonclient.http as httpclient

    fleet, token = guarded
    tensor = httpclient.InferInput("input", [32, 3, 64, 64], "FP32")  # 1.5 MiB, as tritonclient.http sends it
    tensor.set_data_from_numpy(np.zeros((32, 3, 64, 64), np.float32))
    body, header_length = httpclient.InferenceServerClient.generate_request_body([tensor])
    headers = {
        "Authorization": f"Bearer {token}",
        "Inference-Header-Content-Length": str(header_length),
        "Content-Type": "application/octet-stream",
    }
    url = f"http://{fleet.http_address}/v2/models/tiny_cnn/infer"

    async def burst() -> list[int]:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def one() -> int:
                async with session.post(
                    url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(60)
                ) as reply:
                    await reply.read()
                    return reply.status

            return await asyncio.gather(*(one() for _ in range(400)))

    with PeakRss(fleet.router()["pid"]) as peak:
        statuses = asyncio.run(burst())
    assert set(statuses) <= {200, 429} and statuses.count(200) >= 200, statuses
    assert peak.growth_mb < 1200, f"router grew {peak.growth_mb:.0f} MB under 400 x 1.5 MiB over HTTP"
