"""`make chaos`: the fleet under steady load at half its capacity, one fault at a time, each several times.

    python bench/chaos --repository model_repository --out results/chaos

Loopback only, about fifteen minutes on 2 cores. The fleet (Redis, three workers, two routers)
runs on every core but the last; the load generator runs alone on the last one. Writes, per
fault and run, every request's outcome (`<fault>-<run>.csv`) and its timeline
(`<fault>-<run>.png`), and for the whole `summary.json` and `table.md` (the tables in
docs/reliability.md). Exits 1 if a target was missed, after writing everything.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop
import yaml
from faults import FAULT_AT_S, Fault, faults
from load import Load, Outcomes
from processes import ROUTERS, ChaosFleet
from report import aggregate, overload_table, plot, summarise, table

from interfleet.zoo.build import build_zoo

log = logging.getLogger("chaos")

MODELS = ("mlp", "tiny_cnn")
WORKERS = ("w0", "w1", "w2")
STEADY_SHARE = 0.5
# Little's law with headroom: the calls a router holds at once is about its share of the fleet's
# capacity times the longest SLO; twice that absorbs Poisson bursts, and more only queues.
CONCURRENCY_HEADROOM = 2.0
MIN_CONCURRENT_CALLS = 8
WARM_UP_S = 5.0
CAPACITY_MEASUREMENTS = 3


def max_concurrent_calls(capacity_rps: float, slo_s: float, routers: int) -> int:
    return max(MIN_CONCURRENT_CALLS, math.ceil(CONCURRENCY_HEADROOM * capacity_rps / routers * slo_s))


async def run_fault(
    fleet: ChaosFleet, load: Load, fault: Fault, rate: float
) -> tuple[Outcomes, float, float, list[str]]:
    """Run one scenario; its outcomes, the router retries it caused, when the fault was over (s), and
    what went wrong injecting or ending it (a process that would not start again)."""
    outcomes = Outcomes()
    problems: list[str] = []

    def attempt(action: Callable[[ChaosFleet], None]) -> Callable[[ChaosFleet], None]:
        def run(fleet: ChaosFleet) -> None:
            try:
                action(fleet)
            except Exception as exc:  # noqa: BLE001 - reported with the run, and the fleet restored
                log.error("%s: %s", fault.name, exc)
                problems.append(str(exc))

        return run

    loop = asyncio.get_running_loop()
    actions: list[asyncio.Future] = []
    fired = {"start": False, "end": False}
    began = time.monotonic()
    ended = {"at": fault.ends_at_s}

    def events(t: float) -> None:
        # Faults run in a thread: stopping or starting a process must not pause the load.
        if t >= FAULT_AT_S and not fired["start"]:
            fired["start"] = True
            actions.append(loop.run_in_executor(None, attempt(fault.start), fleet))
        if t >= fault.ends_at_s and not fired["end"]:
            fired["end"] = True
            start = actions[-1]
            actions.append(
                asyncio.ensure_future(_after(start, loop, attempt(fault.end), fleet, began, ended))
            )

    def rate_at(t: float) -> float:
        return rate * (fault.load_factor if FAULT_AT_S <= t < fault.ends_at_s else 1.0)

    retries_before = fleet.retries()
    await load.run(fault.duration_s, rate_at, outcomes, events)
    await asyncio.gather(*actions)
    retries = fleet.retries() - retries_before
    # A router started again counts from zero: its retries are not known then.
    return (
        outcomes,
        retries if retries >= 0 and fault.name != "router-rolling-restart" else None,
        ended["at"],
        problems,
    )


async def _after(first: asyncio.Future, loop, action, fleet, began: float, ended: dict) -> None:
    await first
    ended["at"] = max(ended["at"], time.monotonic() - began)
    await loop.run_in_executor(None, action, fleet)


def write_outcomes(outcomes: Outcomes, path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sent_at_s", "model", "status", "latency_ms", "worker", "send_lag_ms", "message"])
        for row in zip(
            outcomes.sent_at,
            outcomes.model,
            outcomes.status,
            outcomes.latency_ms,
            outcomes.worker,
            outcomes.send_lag_ms,
            outcomes.message,
        ):
            writer.writerow(
                [f"{row[0]:.4f}", row[1], row[2], f"{row[3]:.3f}", row[4], f"{row[5]:.3f}", row[6]]
            )


def split_cores(cores: list[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(the fleet's cores, the load generator's): the generator gets the last core to itself."""
    if len(cores) < 2:
        raise SystemExit("make chaos needs 2 cores or more: the load generator must not share the fleet's")
    return tuple(cores[:-1]), (cores[-1],)


async def main(args: argparse.Namespace) -> int:
    fleet_cpus, generator_cpus = split_cores(sorted(os.sched_getaffinity(0)))
    # Before any thread starts: gRPC's and the executor's threads inherit the generator's core,
    # and every fleet process is started on the fleet's cores (spawn_child).
    os.sched_setaffinity(0, generator_cpus)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    repository = Path(args.repository).resolve()
    build_zoo(repository, list(MODELS))
    slo_ms = {m: yaml.safe_load((repository / m / "config.yaml").read_text())["slo_ms"] for m in MODELS}
    scratch = Path(tempfile.mkdtemp(prefix="chaos-"))
    config = scratch / "fleet.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "fleet": "chaos",
                "model_repository": str(repository),
                "router": {"metrics_port": 0},
                "workers": [{"worker_id": w, "models": list(MODELS), "metrics_port": -1} for w in WORKERS],
            }
        )
    )
    fleet = ChaosFleet(config, list(WORKERS), scratch / "run", fleet_cpus)
    runs: dict[str, list[dict]] = {}
    try:
        load = Load(fleet.addresses, {m: ms / 1e3 for m, ms in slo_ms.items()})
        fleet.start()
        await load.prepare()
        # One bisection can stop low on a single slow moment (99% of a few hundred requests leaves
        # room for three misses): the median of three.
        capacities = [await load.capacity_at_slo() for _ in range(CAPACITY_MEASUREMENTS)]
        capacity = statistics.median(capacities)
        rate = capacity * STEADY_SHARE
        limit = args.max_concurrent_calls or max_concurrent_calls(
            capacity, max(slo_ms.values()) / 1e3, len(ROUTERS)
        )
        log.info(
            "capacity %.0f req/s at 99%% within SLO (median of %s); steady load %.0f req/s; routers "
            "restarted with max_concurrent_calls %d",
            capacity,
            [round(c) for c in capacities],
            rate,
            limit,
        )
        await asyncio.get_running_loop().run_in_executor(
            None, fleet.rolling_restart, ["--max-concurrent-calls", str(limit)]
        )
        # The restarted routers' first requests are slow (caches, connections): not part of any fault.
        await load.run(WARM_UP_S, lambda t: rate, Outcomes(), lambda t: None)
        for repeat in range(args.repeats):
            for fault in faults(victim=WORKERS[0]):
                if args.only and fault.name not in args.only:
                    continue
                started = time.monotonic()
                outcomes, retries, ended_at, problems = await run_fault(fleet, load, fault, rate)
                summary = summarise(fault, outcomes, slo_ms, retries, capacity, ended_at)
                summary["fault_problems"] = problems
                if problems:
                    await asyncio.get_running_loop().run_in_executor(None, fleet.restore)
                runs.setdefault(fault.name, []).append(summary)
                write_outcomes(outcomes, out / f"{fault.name}-{repeat + 1}.csv")
                plot(fault, outcomes, ended_at, out / f"{fault.name}-{repeat + 1}.png")
                log.info(
                    "%s run %d: %s (%.0f s)",
                    fault.name,
                    repeat + 1,
                    json.dumps(
                        {
                            k: summary[k]
                            for k in (
                                "requests",
                                "ok",
                                "errors",
                                "lost",
                                "p99_ms",
                                "recovery_s",
                                "valid",
                                "targets",
                            )
                        }
                    ),
                    time.monotonic() - started,
                )
                await asyncio.sleep(2.0)  # the fleet settles before the next fault
    finally:
        await load.close()
        fleet.stop()
    aggregates = [aggregate(r) for r in runs.values()]
    report = {
        "machine": f"{platform.node()} ({platform.machine()}, Python {platform.python_version()})",
        "fleet_cpus": list(fleet_cpus),
        "generator_cpus": list(generator_cpus),
        "capacity_rps": round(capacity, 1),
        "capacity_measurements_rps": [round(c, 1) for c in capacities],
        "steady_rps": round(rate, 1),
        "router_max_concurrent_calls": limit,
        "models": slo_ms,
        "workers": list(WORKERS),
        "routers": list(ROUTERS),
        "faults": aggregates,
        "runs": runs,
    }
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    tables = table(aggregates) + "\n\n" + overload_table(aggregates) + "\n"
    (out / "table.md").write_text(tables)
    print(tables)
    missed = [f"{a['fault']}: {name}" for a in aggregates for name, ok in a["targets"].items() if not ok]
    unjudged = [a["fault"] for a in aggregates if not a["valid_runs"]]
    if unjudged:
        print("not judged (no valid run): " + ", ".join(unjudged), file=sys.stderr)
    if missed:
        print("targets missed: " + "; ".join(missed), file=sys.stderr)
    return 1 if missed or unjudged else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/chaos")
    parser.add_argument("--only", nargs="*", help="run only these faults")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each fault (median and worst reported)"
    )
    parser.add_argument(
        "--max-concurrent-calls", type=int, default=0, help="each router's limit (default: from the capacity)"
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s chaos: %(message)s")
    sys.exit(uvloop.run(main(parser.parse_args())))  # the generator must outrun the fleet it loads
