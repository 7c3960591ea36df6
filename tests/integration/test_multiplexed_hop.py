"""The router-to-worker hop over multiplexed streams, against a real worker, on both links (a gRPC
stream, a TCP connection to the frames port): tags, in-band errors, deadlines, cancellation and
malformed frames, each without disturbing the other requests."""

from __future__ import annotations

import asyncio
import socket
import time

import grpc
import numpy as np
import pytest
from fleet_harness import Fleet
from tritonclient.grpc import service_pb2

from interfleet.errors import Code, DeadlineExceeded, RemoteError, Unavailable
from interfleet.multiplex.client import WorkerStreams
from interfleet.multiplex.links import INFER_METHOD, WRITE_BUFFER_BYTES, GrpcLink, SocketLink

pytestmark = pytest.mark.fleet


@pytest.fixture(scope="module")
def worker(repository, tmp_path_factory):
    fleet = Fleet(
        tmp_path_factory.mktemp("hop"),
        repository,
        [{"worker_id": "w", "cpus": [0], "models": ["tiny_cnn", "transformer"]}],
    ).start()
    yield fleet.worker("w")
    fleet.stop()


@pytest.fixture
def worker_address(worker):
    return worker["address"]


@pytest.fixture(params=["grpc", "socket"])
def links(request, worker):
    """A new link to the worker per stream, of each kind."""

    def make(channel: grpc.aio.Channel):
        if request.param == "socket":
            return lambda: SocketLink(worker["frames"], 64 * 1024 * 1024)
        return lambda: GrpcLink(channel)

    return make


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


async def test_concurrent_requests_come_back_to_their_callers(worker_address, links):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        streams = WorkerStreams(links(channel), "w", streams=2, window=64)
        # A heavy request first: the light ones behind it on the same stream are not held up.
        heavy = asyncio.ensure_future(streams.infer(transformer("heavy", 16), 30.0))
        light = await asyncio.gather(*(streams.infer(tiny_cnn(f"r{i}"), 30.0) for i in range(200)))
        assert [response_id(raw) for raw in light] == [f"r{i}" for i in range(200)]
        assert response_id(await heavy) == "heavy"
        assert streams.in_flight == 0
        await streams.close()


async def test_errors_come_back_in_band_with_their_status_and_the_stream_goes_on(worker_address, links):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        streams = WorkerStreams(links(channel), "w", streams=1)
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


async def test_deadlines_and_cancellation_end_only_their_own_request(worker_address, links):
    async with grpc.aio.insecure_channel(worker_address) as channel:
        streams = WorkerStreams(links(channel), "w", streams=1)
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
        streams = WorkerStreams(lambda: GrpcLink(channel), "w")
        assert response_id(await streams.infer(tiny_cnn("still-serving"), 10.0)) == "still-serving"
        await streams.close()


@pytest.mark.parametrize(
    "garbage, why",
    [
        (b"\x0a\xff\xff\xff\xff\x0f", "larger than"),  # an entry claiming 4 GB: over the worker's cap
        (b"\x99 not an entry", "does not start an entry"),
        (b"\x0a\x05\x08\x01\x12\x07x", "not an InferFrames message"),  # whole, but not a valid frame
    ],
)
async def test_malformed_bytes_on_the_frames_port_close_only_their_connection(worker, garbage, why, caplog):
    host, _, port = worker["frames"].rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(garbage)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10.0) == b""  # closed by the worker, nothing sent
    writer.close()
    streams = WorkerStreams(lambda: SocketLink(worker["frames"], 1 << 20), "w")
    assert response_id(await streams.infer(tiny_cnn("still-serving"), 10.0)) == "still-serving"
    await streams.close()


async def test_a_stream_to_a_closed_frames_port_fails_its_requests_unavailable(worker):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{unused.getsockname()[1]}"
    streams = WorkerStreams(lambda: SocketLink(nowhere, 1 << 20), "w", streams=1)
    with pytest.raises(Unavailable, match="cannot connect"):
        await streams.infer(tiny_cnn("lost"), 5.0)
    await streams.close()


async def test_a_router_falls_back_to_grpc_streams_when_a_frames_port_is_unreachable(worker):
    from router.worker_pool import HopSettings, WorkerConnection

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{unused.getsockname()[1]}"
    connection = WorkerConnection("w", worker["address"], "cpu", HopSettings(), frames_address=nowhere)
    assert connection.transport == "socket"
    with pytest.raises(Unavailable, match="cannot connect"):  # failed over like a lost stream's
        await connection.infer(tiny_cnn("lost"), 5.0)
    assert connection.transport == "grpc"
    assert response_id(await connection.infer(tiny_cnn("on-grpc"), 5.0)) == "on-grpc"
    await connection.close(grace=0)


async def test_a_socket_link_holds_frames_back_while_its_peer_reads_nothing_and_loses_none():
    """Ten 1 MiB requests to a peer that reads nothing for a while: past the link's 4 MiB write
    buffer mark the writer waits for the kernel instead of buffering them all (one joined message
    may still go in past the mark), and once the peer reads, every frame arrives whole and every
    caller gets its own reply."""
    from interfleet.multiplex import frames
    from interfleet.multiplex.client import MultiplexedStream

    reading = asyncio.Event()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reading.wait()
        buffer = bytearray()
        while True:
            data = await reader.read(1 << 20)
            if not data:
                break
            buffer += data
            end = frames.whole_entries(buffer, 1 << 24)
            replies = [frames.reply(f.tag, f.request[:8]) for f in frames.parse_frames(bytes(buffer[:end]))]
            del buffer[:end]
            writer.write(b"".join(replies))
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    stream = MultiplexedStream(SocketLink(address, 1 << 24), "peer", window=64)
    stream.open()
    payloads = [bytes([i]) * 8 + bytes(1 << 20) for i in range(10)]
    calls = [asyncio.ensure_future(stream.infer(p, 30.0)) for p in payloads]
    await asyncio.sleep(0.5)
    assert not any(call.done() for call in calls)
    buffered = stream._link._writer.transport.get_write_buffer_size()  # type: ignore[attr-defined]
    # Past the mark the writer waits: at most one more joined message sits in the buffer.
    assert buffered <= WRITE_BUFFER_BYTES + frames.JOIN_LIMIT_BYTES, buffered
    reading.set()
    assert await asyncio.gather(*calls) == [p[:8] for p in payloads]
    await stream.close()
    server.close()


async def test_a_frames_port_in_use_is_a_config_error_naming_it():
    from interfleet.errors import ConfigError
    from interfleet.multiplex.server import MultiplexedInferService
    from interfleet.multiplex.sockets import FramesListener

    async def never(request, deadline):
        raise AssertionError("not called")

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listener = FramesListener(MultiplexedInferService(never, "w"), "127.0.0.1", port, 1 << 20)
        with pytest.raises(ConfigError, match=f"frames_port: cannot listen on 127.0.0.1:{port}"):
            await listener.start()
