"""Services of the fleet that host models; `worker` is the ONNX Runtime worker."""
