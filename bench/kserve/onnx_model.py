"""KServe's own Python model server serving an ONNX file with ONNX Runtime, for `make bench-peer`.

The minimal model a user writes from KServe's custom-model guide: a `kserve.Model` holding one
ONNX Runtime session (one intra-op thread, as an interfleet worker's default) and
`kserve.ModelServer` with its defaults, whose gRPC port speaks the KServe v2 protocol (KServe's
reference implementation of it). Runs in its own virtualenv (`.bench-venvs/kserve`) and imports
nothing from interfleet. Usage: python onnx_model.py MODEL_NAME MODEL.onnx --grpc_port N --http_port M
"""

from __future__ import annotations

import sys

import onnxruntime as ort
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer


class OnnxModel(Model):
    def __init__(self, name: str, path: str):
        super().__init__(name)
        self._path = path
        self.load()

    def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(self._path, options, providers=["CPUExecutionProvider"])
        self._outputs = [o.name for o in self._session.get_outputs()]
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
        outputs = []
        for name, value in zip(self._outputs, self._session.run(self._outputs, feeds)):
            output = InferOutput(name=name, shape=list(value.shape), datatype="FP32")
            output.set_data_from_numpy(value, binary_data=True)
            outputs.append(output)
        return InferResponse(response_id=payload.id, model_name=self.name, infer_outputs=outputs)


if __name__ == "__main__":
    name, path = sys.argv[1], sys.argv[2]
    del sys.argv[1:3]  # the rest are ModelServer's own flags (it parses sys.argv itself)
    ModelServer().start([OnnxModel(name, path)])
