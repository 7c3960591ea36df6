"""The worker: several ONNX models co-located on one device, served over the KServe v2 protocol."""
