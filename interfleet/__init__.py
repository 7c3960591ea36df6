"""interfleet, the ground floor: what every other package of the fleet shares.

Plain vocabulary (placements, device terms, solo latency, graph features, errors and their
status codes) and plumbing (config, the KServe v2 endpoint, the router-to-worker hop, telemetry,
security, supervision, the model zoo). It imports no other package of the project; the router
(`router/`), the worker (`services/`), the predictor, the load generator, the emulator, the
simulator and the `interfleet` command (`fleet/`) stand on it (docs/ARCHITECTURE.md, "Floors").
"""

__version__ = "0.1.0"
