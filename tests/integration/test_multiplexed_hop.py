"""The router-to-worker hop over multiplexed streams, against a real worker: tags, in-band errors,
deadlines, cancellation and malformed frames, each without disturbing the other requests."""

from __future__ import annotations

import asyncio
import time

import grpc
import numpy as np
import pytest
from fleet_harness import Fleet
from tritonclient.grpc import service_pb2

from interfleet.errors import Code, DeadlineExceeded, RemoteError
from interfleet.multiplex.client import INFER_METHOD, WorkerStreams

pytestmark = pytest.mark.fleet


@pytest.fixture(scope="module")
def worker_address(repository, tmp_path_factory):
    fleet = Fleet(
        tmp_path_factory.mktemp("hop"),
        repository,
        [{"worker_id": "w", "cpus": [0], "models": ["tiny_cnn", "transformer"]}],
    ).start()
    yield fleet.worker("w")["address"]
    fleet.stop()


def tiny_cnn(request_id: str, batch: int = 1) -> bytes:
    request = service_pb2.ModelInferRequest(model_name="tiny_cnn", id=request_id)
    request.inputs.add(name="input", datatype="FP32", shape=[batch, 3, 64, 64])
    request.raw_input_contents.append(np.full((batch, 3, 64, 64), 0.5, np.float32).tobytes())
    return request.SerializeToString()


def transformer(request_id: str, batch: int) -> bytes:
    request = service_pb2.ModelInferRequest(model_name="transformer", id=request_id)
    for name in ("input_ids", "attention_mask"):
        request.inputs.add(name=name, datatype="INT64", shape=[batch, 64])
        request.raw_input_contents.append(np.ones((batch, 64), np.int64).tobytes())
    return request.SerializeToString()


def response_id(raw: bytes) -> str:
    return service_pb2.ModelInferResponse.FromString(raw).id


async def test_concurrent_requests_come_back_to_their_callers(worker_address):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        streams = WorkerStreams(channel, "w", streams=2, window=64)
        # A heavy request first: the light ones behind it on the same stream are not held up.
        heavy = asyncio.ensure_future(streams.infer(transformer("heavy", 16), 30.0))
        light = await asyncio.gather(*(streams.infer(tiny_cnn(f"r{i}"), 30.0) for i in range(200)))
        assert [response_id(raw) for raw in light] == [f"r{i}" for i in range(200)]
        assert response_id(await heavy) == "heavy"
        assert streams.in_flight == 0
        await streams.close()


async def test_errors_come_back_in_band_with_their_status_and_the_stream_goes_on(worker_address):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        streams = WorkerStreams(channel, "w", streams=1)
        bad = service_pb2.ModelInferRequest(model_name="tiny_cnn", id="bad")
        bad.inputs.add(name="pixels", datatype="FP32", shape=[1, 3, 64, 64])
        bad.raw_input_contents.append(bytes(4 * 3 * 64 * 64))
        results = await asyncio.gather(
            streams.infer(bad.SerializeToString(), 10.0),
            streams.infer(b"\xff\xff garbage", 10.0),
            streams.infer(tiny_cnn("good"), 10.0),
            return_exceptions=True,
        )
        assert isinstance(results[0], RemoteError) and results[0].code == Code.INVALID_ARGUMENT
        assert "pixels" in results[0].message
        assert isinstance(results[1], RemoteError) and results[1].code == Code.INVALID_ARGUMENT
        assert "not a valid ModelInferRequest" in results[1].message
        assert response_id(results[2]) == "good"
        await streams.close()


async def test_deadlines_and_cancellation_end_only_their_own_request(worker_address):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        streams = WorkerStreams(channel, "w", streams=1)
        with pytest.raises(DeadlineExceeded):  # spent before it is sent
            await streams.infer(tiny_cnn("late"), 0.0)
        started = time.monotonic()
        with pytest.raises((DeadlineExceeded, RemoteError)) as caught:
            await streams.infer(transformer("too-slow", 16), 0.002)
        assert time.monotonic() - started < 1.0
        if isinstance(caught.value, RemoteError):  # the worker refused it first
            assert caught.value.code == Code.DEADLINE_EXCEEDED
        abandoned = asyncio.ensure_future(streams.infer(transformer("abandoned", 16), 30.0))
        await asyncio.sleep(0.001)
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        assert streams.in_flight == 0
        assert response_id(await streams.infer(tiny_cnn("after"), 10.0)) == "after"
        await streams.close()


async def test_a_malformed_message_ends_its_stream_with_invalid_argument_only(worker_address):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        call = channel.stream_stream(INFER_METHOD)()
        await call.write(b"\x0a\xff\xff\xff\xff\x0f")  # an entry claiming 4 GB
        await call.done_writing()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not an InferFrames message" in caught.value.details()
        streams = WorkerStreams(channel, "w")
        assert response_id(await streams.infer(tiny_cnn("still-serving"), 10.0)) == "still-serving"
        await streams.close()
