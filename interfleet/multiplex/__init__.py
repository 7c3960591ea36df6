"""Router-to-worker inference multiplexed over long-lived bidirectional gRPC streams.

`frames` is the wire format (`WorkerInference.Infer` in protos/), `client` the router's side
(a small pool of streams per worker), `server` the worker's side.
"""
