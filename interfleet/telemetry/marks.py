"""Interference marks, the one format routers write and the predictor reads.

A router marks a worker it finds persistently slower than predicted (`router.interference`);
the predictor labels the batch records that worker produced while marked as running beside an
external stressor (`predictor.online_rows`). In Redis a mark is a field of the fleet's
interference hash (`interfleet.telemetry.keys`): the worker id, and a JSON object with the
slowdown `ratio` and the window `since`..`until` in unix seconds. `until` lies a few seconds
ahead and is extended while the mark lasts, so the mark of a router that died lapses by itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class InterferenceMark:
    ratio: float  # observed over predicted latency
    since: float  # unix seconds
    until: float

    def covers(self, at: float) -> bool:
        return self.since <= at <= self.until

    def encode(self) -> str:
        return json.dumps({"ratio": round(self.ratio, 3), "since": self.since, "until": self.until})


def parse_marks(raw: dict) -> dict[str, InterferenceMark]:
    """The interference hash as read from Redis (bytes to bytes), skipping unparsable entries."""
    marks = {}
    for worker_id, value in raw.items():
        try:
            mark = json.loads(value)
            marks[worker_id.decode() if isinstance(worker_id, bytes) else worker_id] = InterferenceMark(
                float(mark["ratio"]), float(mark["since"]), float(mark["until"])
            )
        except (ValueError, KeyError, TypeError):
            continue
    return marks
