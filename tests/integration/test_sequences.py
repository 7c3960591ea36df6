"""Sequence batching through the router: a stateful model (Triton's `simple_sequence`, an
accumulator with implicit state) on two workers, sequences interleaved over gRPC (unary and
streaming) and HTTP. Every request of a sequence must reach the worker that holds its state."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import tritonclient.grpc as tc
import tritonclient.http as th
from fleet_harness import Fleet
from triton_models import build_triton_repository
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.fleet
MODEL = "simple_sequence"


@pytest.fixture(scope="module")
def sequence_fleet(tmp_path_factory):
    root = tmp_path_factory.mktemp("sequences")
    repository = build_triton_repository(root / "repository")
    workers = [
        {"worker_id": "a", "cpus": [0], "models": [MODEL]},
        {"worker_id": "b", "cpus": [1], "models": [MODEL]},
    ]
    fleet = Fleet(root, repository, workers, router={"policy": "round-robin"}).start()
    yield fleet
    assert fleet.stop() == 0, fleet.log.read_text()[-3000:]


def value(module, x: int):
    tensor = module.InferInput("INPUT", [1, 1], "INT32")
    tensor.set_data_from_numpy(np.array([[x]], dtype=np.int32))
    return [tensor]


@pytest.mark.parametrize("module", [tc, th], ids=["grpc", "http"])
def test_interleaved_sequences_keep_their_own_running_sums_and_workers(sequence_fleet, module):
    address = sequence_fleet.address if module is tc else sequence_fleet.http_address
    client = module.InferenceServerClient(address)
    sequences = {1001: [1, 2, 3, 4, 5], 1002: [10, 20, 30, 40, 50], 1003: [7, 7, 7, 7, 7]}
    sums = dict.fromkeys(sequences, 0)
    workers: dict = {s: set() for s in sequences}
    for step in range(5):  # round-robin routing would scatter them; the router keeps each on one worker
        for sequence_id, values in sequences.items():
            result = client.infer(
                MODEL,
                value(module, values[step]),
                sequence_id=sequence_id,
                sequence_start=step == 0,
                sequence_end=step == 4,
            )
            sums[sequence_id] += values[step]
            assert result.as_numpy("OUTPUT").tolist() == [[sums[sequence_id]]]
            answer = result.get_response()
            parameters = answer["parameters"] if module is th else answer.parameters
            worker = parameters["worker_id"] if module is th else parameters["worker_id"].string_param
            workers[sequence_id].add(worker)
    assert all(len(w) == 1 for w in workers.values()), workers


def test_a_stream_carries_a_sequence(sequence_fleet):
    client = tc.InferenceServerClient(sequence_fleet.address)
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put(error or result))
    try:
        for step, x in enumerate([5, 6, 7]):
            client.async_stream_infer(
                MODEL, value(tc, x), sequence_id=77, sequence_start=step == 0, sequence_end=step == 2
            )
        outputs = [answers.get(timeout=10) for _ in range(3)]
    finally:
        client.stop_stream()
    assert [o if isinstance(o, Exception) else o.as_numpy("OUTPUT").item() for o in outputs] == [5, 11, 18]


def test_a_sequence_not_started_or_unnamed_is_refused_in_triton_s_words(sequence_fleet):
    client = tc.InferenceServerClient(sequence_fleet.address)
    with pytest.raises(InferenceServerException) as refused:
        client.infer(MODEL, value(tc, 1), sequence_id=4242)
    assert refused.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "must specify the START flag on the first request of the sequence" in refused.value.message()
    with pytest.raises(InferenceServerException, match="must specify a non-zero or non-empty correlation ID"):
        client.infer(MODEL, value(tc, 1))
    with pytest.raises(
        InferenceServerException, match="is a string, but its correlation ID input CORRID is UINT64"
    ):
        client.infer(MODEL, value(tc, 1), sequence_id="session-b", sequence_start=True)
    # The control and state inputs are the server's: the model's metadata shows only INPUT and OUTPUT.
    metadata = client.get_model_metadata(MODEL)
    assert [i.name for i in metadata.inputs] == ["INPUT"] and [o.name for o in metadata.outputs] == ["OUTPUT"]
