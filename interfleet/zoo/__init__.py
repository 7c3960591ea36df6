"""The model zoo: real architectures with random weights, generated locally as ONNX.

No weights can be downloaded here, so `interfleet models build` writes a model repository of
ResNet-style, MobileNet-style, transformer-encoder and MLP networks whose compute and memory
behaviour is that of the real thing, with FLOPs and parameter counts recorded per model.
"""
