"""The Redis key schema. Every key of one fleet starts with `interfleet:{fleet}:`.

| key                                | type   | value                                             |
|------------------------------------|--------|---------------------------------------------------|
| interfleet:{fleet}:workers         | ZSET   | member worker id, score last heartbeat (unix s)   |
| interfleet:{fleet}:worker:{id}     | STRING | serialized interfleet.v1.WorkerState, with a TTL  |
| interfleet:{fleet}:batches         | STREAM | field `record`: serialized interfleet.v1.BatchRecord, length-capped |
| interfleet:{fleet}:predictor:model | STRING | JSON: version, published_at, validation, the degradation model |
| interfleet:{fleet}:predictor:version | STRING | the newest published version (an integer), polled cheaply |
| interfleet:{fleet}:interference    | HASH   | field worker id, value JSON {ratio, since, until} (`marks.py`) |
| interfleet:{fleet}:identities      | HASH   | key id -> a service certificate (DER), to check signatures |

A worker that stops heartbeating loses its state key when the TTL runs out and is dropped
from the view; the ZSET is only an index for discovery, pruned by whoever reads it. An
interference mark holds while `until` (unix s) is ahead; routers extend it while the mark lasts.
"""

from __future__ import annotations

from dataclasses import dataclass

STREAM_FIELD = b"record"
# The writer's worker id beside each record, so a reader knows which seal to check it against
# (the record, once opened, must name the same worker).
STREAM_WORKER_FIELD = b"worker"


@dataclass(frozen=True)
class FleetKeys:
    fleet: str = "default"

    @property
    def prefix(self) -> str:
        return f"interfleet:{self.fleet}:"

    @property
    def workers(self) -> str:
        return f"{self.prefix}workers"

    def worker_state(self, worker_id: str) -> str:
        return f"{self.prefix}worker:{worker_id}"

    @property
    def batches(self) -> str:
        return f"{self.prefix}batches"

    @property
    def predictor_model(self) -> str:
        return f"{self.prefix}predictor:model"

    @property
    def predictor_version(self) -> str:
        return f"{self.prefix}predictor:version"

    @property
    def interference(self) -> str:
        return f"{self.prefix}interference"

    @property
    def identities(self) -> str:
        return f"{self.prefix}identities"
