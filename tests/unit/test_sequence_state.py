"""Sequences of stateful models: the router's pins and turns, the worker's control and state
inputs, idle expiry and the errors, without a fleet (a fake clock, protos built by hand)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput
from interfleet.kserve.sequence_flags import SequenceFlags
from interfleet.repository import SequenceControl, SequenceSettings, SequenceStateTensor
from router.sequences import SequenceAffinity
from services.worker.sequences import Sequences
from services.worker.tensors import DecodedRequest, EncodedTensor

SETTINGS = SequenceSettings(
    idle_s=5.0,
    controls=(
        SequenceControl("START", "start", "INT32", 0, 1),
        SequenceControl("END", "end", "FP32", 0.0, 1.0),
        SequenceControl("READY", "ready", "BOOL", False, True),
        SequenceControl("CORRID", "corrid", "UINT64"),
    ),
    states=(SequenceStateTensor("INPUT_STATE", "OUTPUT_STATE", "INT32", (1,)),),
)


def request(sequence_id=None, start=False, end=False) -> service_pb2.ModelInferRequest:
    message = service_pb2.ModelInferRequest(model_name="acc")
    if sequence_id is not None:
        if isinstance(sequence_id, str):
            message.parameters["sequence_id"].string_param = sequence_id
        else:
            message.parameters["sequence_id"].int64_param = sequence_id
        message.parameters["sequence_start"].bool_param = start
        message.parameters["sequence_end"].bool_param = end
    return message


def decoded(x: int) -> DecodedRequest:
    return DecodedRequest({"INPUT": np.array([[x]], np.int32)}, 1, ("OUTPUT",))


def test_flags_read_integer_and_string_ids_and_none_for_no_sequence():
    assert SequenceFlags.of(request(7, start=True)) == SequenceFlags(7, True, False)
    assert SequenceFlags.of(request("s-1", end=True)) == SequenceFlags("s-1", False, True)
    assert SequenceFlags.of(request()) is None and SequenceFlags.of(request(0)) is None


def test_the_worker_fills_controls_and_carries_state_until_the_end(clock):
    sequences = Sequences("acc", SETTINGS, clock)
    flags, sequence = sequences.begin(request(9, start=True))
    fed = sequences.feed(decoded(3), flags, sequence)
    assert fed.outputs == ("OUTPUT", "OUTPUT_STATE")
    assert fed.feeds["START"].tolist() == [[1]] and fed.feeds["END"].tolist() == [[0.0]]
    assert fed.feeds["READY"].tolist() == [[True]] and fed.feeds["CORRID"].tolist() == [[9]]
    assert fed.feeds["INPUT_STATE"].tolist() == [[0]]  # zeros on START
    state = EncodedTensor("OUTPUT_STATE", "INT32", (1, 1), np.array([[3]], np.int32).tobytes())
    answer = EncodedTensor("OUTPUT", "INT32", (1, 1), np.array([[3]], np.int32).tobytes())
    assert sequences.keep_state(flags, sequence, [answer, state]) == [answer]  # state is never returned
    flags, sequence = sequences.begin(request(9, end=True))
    fed = sequences.feed(decoded(4), flags, sequence)
    assert fed.feeds["INPUT_STATE"].tolist() == [[3]] and fed.feeds["START"].tolist() == [[0]]
    assert fed.feeds["END"].tolist() == [[1.0]]
    sequences.keep_state(flags, sequence, [answer, state])
    assert len(sequences) == 0  # ended


def test_the_worker_refuses_what_triton_refuses_and_forgets_idle_sequences(clock):
    sequences = Sequences("acc", SETTINGS, clock)
    with pytest.raises(InvalidInput, match="must specify a non-zero or non-empty correlation ID"):
        sequences.begin(request())
    with pytest.raises(InvalidInput, match="must specify the START flag on the first request"):
        sequences.begin(request(5))
    flags, sequence = sequences.begin(request(5, start=True))
    with pytest.raises(InvalidInput, match="take batch size 1"):
        sequences.feed(DecodedRequest({"INPUT": np.zeros((2, 1), np.int32)}, 2, ("OUTPUT",)), flags, sequence)
    clock.advance(6.0)  # past idle_s
    with pytest.raises(InvalidInput, match="idle past max_sequence_idle_microseconds"):
        sequences.begin(request(5))


def test_the_router_pins_a_sequence_until_its_end_or_idle(clock):
    affinity = SequenceAffinity(idle_s=10.0, clock=clock)
    key = ("acc", 1)
    assert affinity.worker_of(key) is None
    affinity.answered(key, "w1", end=False)
    assert affinity.worker_of(key) == "w1" and affinity.workers() == {"w1"}
    affinity.answered(key, "w1", end=True)
    assert affinity.worker_of(key) is None
    affinity.answered(key, "w2", end=False)
    clock.advance(11.0)
    assert affinity.worker_of(key) is None  # idle too long
    affinity.answered(key, "w2", end=False)
    affinity.forget_worker("w2")
    assert affinity.worker_of(key) is None


async def test_a_sequence_s_requests_take_turns_in_arrival_order():
    affinity = SequenceAffinity()
    order: list[int] = []

    async def one(n: int) -> None:
        async with affinity.turn(("acc", 1)):
            await asyncio.sleep(0.01 if n == 0 else 0)  # the first is slowest, and still goes first
            order.append(n)

    await asyncio.gather(*(one(n) for n in range(4)))
    assert order == [0, 1, 2, 3] and not affinity._turns
