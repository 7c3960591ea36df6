"""interfleet: an interference-aware inference-serving fleet.

The router (`router`, in `router/`) speaks the KServe v2 / Triton gRPC protocol and
dispatches each request to a worker (`services.worker`, in `services/`) that hosts
several ONNX models on one device. Workers publish telemetry to Redis; the router keeps a view
of it in memory.
"""

__version__ = "0.1.0"
