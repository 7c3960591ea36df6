"""Request validation and decoding on the worker: every bad input named, nothing queued."""

import numpy as np
import pytest
from tritonclient.grpc import service_pb2

from interfleet.errors import InvalidInput
from services.worker.tensors import TensorSpec, decode_request

INPUTS = (TensorSpec("ids", "INT64", (-1, 4)), TensorSpec("mask", "FP32", (-1, 4)))
OUTPUTS = (TensorSpec("logits", "FP32", (-1, 2)), TensorSpec("probabilities", "FP32", (-1, 2)))


def raw_request(arrays, datatypes=None, shapes=None, outputs=()):
    request = service_pb2.ModelInferRequest(model_name="m")
    for name, array in arrays.items():
        datatype = (datatypes or {}).get(name, {"int64": "INT64", "float32": "FP32"}[array.dtype.name])
        shape = (shapes or {}).get(name, array.shape)
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(array.tobytes())
    for name in outputs:
        request.outputs.add(name=name)
    return request


def good_arrays(batch=2):
    return {
        "ids": np.arange(4 * batch, dtype=np.int64).reshape(batch, 4),
        "mask": np.ones((batch, 4), dtype=np.float32),
    }


def decode(request, max_batch=8):
    return decode_request(request, INPUTS, OUTPUTS, max_batch)


def test_raw_inputs_decode_to_the_same_arrays():
    arrays = good_arrays()
    decoded = decode(raw_request(arrays))
    assert decoded.batch_size == 2
    np.testing.assert_array_equal(decoded.feeds["ids"], arrays["ids"])
    assert decoded.outputs == ("logits", "probabilities")


def test_typed_contents_decode():
    request = service_pb2.ModelInferRequest(model_name="m")
    ids = request.inputs.add(name="ids", datatype="INT64", shape=[1, 4])
    ids.contents.int64_contents.extend([1, 2, 3, 4])
    mask = request.inputs.add(name="mask", datatype="FP32", shape=[1, 4])
    mask.contents.fp32_contents.extend([1.0, 1.0, 0.0, 0.0])
    decoded = decode(request)
    np.testing.assert_array_equal(decoded.feeds["ids"], [[1, 2, 3, 4]])
    assert decoded.feeds["mask"].dtype == np.float32


def test_requested_output_subset_is_kept_in_order():
    assert decode(raw_request(good_arrays(), outputs=("probabilities",))).outputs == ("probabilities",)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda r: setattr(r.inputs[0], "name", "tokens"), "has no input 'tokens'"),
        (
            lambda r: setattr(r.inputs[1], "datatype", "FP64"),
            "input 'mask': datatype FP64 but the model expects FP32",
        ),
        (lambda r: r.inputs[0].shape.__setitem__(1, 5), r"input 'ids': shape \[2, 5\] does not match"),
        (lambda r: r.inputs[0].shape.append(1), r"input 'ids': shape \[2, 4, 1\]"),
        (lambda r: r.raw_input_contents.__setitem__(1, b"\0" * 3), "raw_input_contents holds 3 bytes"),
        (lambda r: r.outputs.add(name="embedding"), "has no output 'embedding'"),
    ],
)
def test_bad_input_is_named(mutate, message):
    request = raw_request(good_arrays())
    mutate(request)
    with pytest.raises(InvalidInput, match=message):
        decode(request)


def test_missing_input_is_named():
    request = raw_request({"ids": good_arrays()["ids"]})
    with pytest.raises(InvalidInput, match="missing input.*mask"):
        decode(request)


def test_batch_above_max_is_rejected():
    with pytest.raises(InvalidInput, match="batch size 9 is outside 1..8"):
        decode(raw_request(good_arrays(batch=9)))


def test_inputs_must_agree_on_batch():
    arrays = good_arrays()
    arrays["mask"] = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(InvalidInput, match="disagree on the batch size"):
        decode(raw_request(arrays))


def test_duplicate_input_and_raw_count_mismatch():
    request = raw_request(good_arrays())
    request.inputs[1].name = "ids"
    with pytest.raises(InvalidInput, match="given twice"):
        decode(request)
    request = raw_request(good_arrays())
    del request.raw_input_contents[1]
    with pytest.raises(InvalidInput, match="2 inputs but 1 raw_input_contents"):
        decode(request)


def test_typed_contents_count_must_match_shape():
    request = service_pb2.ModelInferRequest(model_name="m")
    request.inputs.add(name="ids", datatype="INT64", shape=[1, 4]).contents.int64_contents.extend([1, 2])
    request.inputs.add(name="mask", datatype="FP32", shape=[1, 4]).contents.fp32_contents.extend([1.0] * 4)
    with pytest.raises(InvalidInput, match="int64_contents holds 2 values but shape"):
        decode(request)


@pytest.mark.parametrize("batch", [2**56, 2**62, 2**63 - 1])
def test_a_shape_whose_element_count_passes_int64_is_invalid_not_internal(batch):
    """[2^56, 4] has 2^58 elements, x8 bytes = 2^61; [2^62, 4] is 2^64 elements, which numpy's
    int64 product wraps to 0, so empty contents looked like a match; the count must be exact."""
    request = raw_request(
        {"ids": np.zeros((0, 4), np.int64), "mask": np.zeros((0, 4), np.float32)},
        shapes={"ids": [batch, 4], "mask": [batch, 4]},
    )
    with pytest.raises(InvalidInput, match=r"raw_input_contents holds 0 bytes but shape"):
        decode(request)
