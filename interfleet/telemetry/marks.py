"""Interference marks, the one format routers write and the predictor reads.

A router marks a worker it finds persistently slower than predicted (`router.interference`);
the predictor labels the batch records that worker produced while marked as running beside an
external stressor (`predictor.online_rows`). In Redis a mark is a field of the fleet's
interference hash (`interfleet.telemetry.keys`): the worker id, and a JSON object with the
slowdown `ratio` and the window `since`..`until` in unix seconds. `until` lies a few seconds
ahead and is extended while the mark lasts, so the mark of a router that died lapses by itself.

With a fleet CA each mark is signed by the router that made it (`interfleet.security.signing`), and a
reader takes only sealed ones; a reader takes at most MAX_MARKS of them, and each router sets
the whole hash to expire MARK_HASH_TTL_S after its last write, so a flood of marks (ids are
chosen by whoever writes to Redis) can neither grow a reader's memory nor outlive the routers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from interfleet.security.signing import BadSignature, Sealer

MAX_MARKS = 10_000  # far beyond any fleet's marked workers at once
MARK_HASH_TTL_S = 60.0


def interference_mark(worker_id: str) -> str:
    """The purpose a worker's mark is sealed for."""
    return f"interference-mark:{worker_id}"


@dataclass(frozen=True)
class InterferenceMark:
    ratio: float  # observed over predicted latency
    since: float  # unix seconds
    until: float

    def covers(self, at: float) -> bool:
        return self.since <= at <= self.until

    def encode(self) -> str:
        return json.dumps({"ratio": round(self.ratio, 3), "since": self.since, "until": self.until})


def parse_marks(raw: dict, sealer: Sealer = Sealer()) -> dict[str, InterferenceMark]:
    """The interference hash as read from Redis (bytes to bytes): at most MAX_MARKS marks,
    skipping unparsable entries and, with a fleet CA, ones no router signed."""
    marks: dict[str, InterferenceMark] = {}
    for key, value in raw.items():
        if len(marks) >= MAX_MARKS:
            break
        worker_id = key.decode(errors="replace") if isinstance(key, bytes) else key
        try:
            mark = json.loads(sealer.open(interference_mark(worker_id), value))
            marks[worker_id] = InterferenceMark(
                float(mark["ratio"]), float(mark["since"]), float(mark["until"])
            )
        except (BadSignature, ValueError, KeyError, TypeError):
            continue
    return marks
