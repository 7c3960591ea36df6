"""What a request costs beyond its compute, learnt from the answers: overhead = a + b x others.

`others` is the number of this router's requests for other models in flight at the worker when
the request was sent: they share the worker's request handling (decoding, encoding, the gRPC
loop) and its cores, so each adds a little to the request's latency. The fixed part `a` is the
network and the two gRPC hops. Both are fitted by least squares with exponential forgetting
(each answer's weight decays by `decay` per later answer, about 1 / (1 - decay) answers of
memory), over every answered request of the fleet, and kept non-negative.
"""

from __future__ import annotations


class OverheadModel:
    def __init__(self, decay: float = 0.995, prior_ms: float = 0.5):
        self._decay = decay
        self._prior_ms = prior_ms
        self._s = [0.0] * 5  # weighted sums of 1, x, x^2, y, x*y
        self.fixed_ms = prior_ms
        self.per_other_ms = 0.0
        self.samples = 0

    def observe(self, others: int, overhead_ms: float) -> None:
        d, x, y = self._decay, float(others), overhead_ms
        self._s = [d * s + v for s, v in zip(self._s, (1.0, x, x * x, y, x * y))]
        self.samples += 1
        n, sx, sxx, sy, sxy = self._s
        spread = n * sxx - sx * sx
        if spread > 1e-9 * n * n:
            slope = max(0.0, (n * sxy - sx * sy) / spread)
        else:
            slope = 0.0  # every answer had the same `others`: no slope to fit yet
        self.per_other_ms = slope
        self.fixed_ms = max(0.0, (sy - slope * sx) / n)

    def predict(self, others: int, probed_ms: float = 0.0) -> float:
        """Before any answer: the probed round trip, else the prior."""
        if not self.samples:
            return probed_ms or self._prior_ms
        return self.fixed_ms + self.per_other_ms * others
