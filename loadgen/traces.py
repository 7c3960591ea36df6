"""Replayed traces: a simple CSV and the Azure Functions 2019 per-minute invocation counts.

CSV: one request per row, `timestamp_s,model[,slo_ms]`; an optional header row, blank lines
and `#` comments are skipped.

Azure Functions 2019 (`invocations_per_function_md.anon.dNN.csv`): a header
`HashOwner,HashApp,HashFunction,Trigger,1,2,...,1440` and a row per function with its
invocation count in each minute of the day. Functions map to models by popularity rank (the
most invoked function to the first model of the mix, the next to the second, cycling), and each
minute's invocations are spread uniformly at random within that minute.

Errors name the file and line.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loadgen.errors import LoadgenError

AZURE_KEY_COLUMNS = ("HashOwner", "HashApp", "HashFunction", "Trigger")


@dataclass(frozen=True)
class Replayed:
    times: np.ndarray  # seconds, sorted
    models: list[str]  # model per request
    slo_ms: np.ndarray  # per request; NaN where the trace gives none


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        with path.open(newline="") as handle:
            return [(n, row) for n, row in enumerate(csv.reader(handle), start=1)]
    except OSError as exc:
        raise LoadgenError(f"cannot read trace {path}: {exc.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise LoadgenError(f"trace {path} is not a readable CSV file: {exc}") from None


def read_csv_trace(path: Path) -> Replayed:
    times, models, slos = [], [], []
    for line, row in _rows(path):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if line == 1 and row[0].strip().lower() == "timestamp_s":
            continue
        if len(row) not in (2, 3):
            raise LoadgenError(
                f"{path} line {line}: expected timestamp_s,model[,slo_ms], got {len(row)} fields"
            )
        try:
            timestamp = float(row[0])
        except ValueError:
            raise LoadgenError(f"{path} line {line}: timestamp {row[0]!r} is not a number") from None
        if not np.isfinite(timestamp) or timestamp < 0:
            raise LoadgenError(f"{path} line {line}: timestamp must be a finite number >= 0, got {row[0]!r}")
        model = row[1].strip()
        if not model:
            raise LoadgenError(f"{path} line {line}: empty model name")
        slo = float("nan")
        if len(row) == 3 and row[2].strip():
            try:
                slo = float(row[2])
            except ValueError:
                raise LoadgenError(f"{path} line {line}: slo_ms {row[2]!r} is not a number") from None
            if slo <= 0:
                raise LoadgenError(f"{path} line {line}: slo_ms must be > 0")
        times.append(timestamp)
        models.append(model)
        slos.append(slo)
    if not times:
        raise LoadgenError(f"{path}: the trace holds no requests")
    order = np.argsort(times, kind="stable")
    return Replayed(np.asarray(times)[order], [models[i] for i in order], np.asarray(slos)[order])


def read_azure_trace(
    path: Path, mix: list[str], rng: np.random.Generator, minutes: int | None = None
) -> Replayed:
    rows = _rows(path)
    if not rows:
        raise LoadgenError(f"{path}: empty file")
    _, header = rows[0]
    if tuple(h.strip() for h in header[:4]) != AZURE_KEY_COLUMNS or len(header) < 5:
        raise LoadgenError(
            f"{path} line 1: expected the Azure Functions header "
            f"{','.join(AZURE_KEY_COLUMNS)},1,2,... ; got {','.join(header[:6])}..."
        )
    width = len(header) - 4 if minutes is None else min(minutes, len(header) - 4)
    counts = []
    for line, row in rows[1:]:
        if not row:
            continue
        if len(row) != len(header):
            raise LoadgenError(f"{path} line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            values = [int(v) for v in row[4 : 4 + width]]
        except ValueError:
            raise LoadgenError(f"{path} line {line}: invocation counts must be whole numbers") from None
        if min(values, default=0) < 0:
            raise LoadgenError(f"{path} line {line}: invocation counts must be >= 0")
        counts.append(values)
    if not counts:
        raise LoadgenError(f"{path}: no functions in the trace")
    table = np.asarray(counts, dtype=np.int64)
    ranking = np.argsort(-table.sum(axis=1), kind="stable")  # most invoked first
    times, models = [], []
    for rank, function in enumerate(ranking):
        model = mix[rank % len(mix)]
        for minute, count in enumerate(table[function]):
            if count:
                times.append(60.0 * minute + rng.random(count) * 60.0)
                models.extend([model] * int(count))
    if not times:
        raise LoadgenError(f"{path}: the trace holds no invocations in the minutes replayed")
    flat = np.concatenate(times)
    order = np.argsort(flat, kind="stable")
    return Replayed(flat[order], [models[i] for i in order], np.full(len(flat), np.nan))
