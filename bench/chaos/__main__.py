"""`make chaos`: the fleet under steady load at half its capacity, one fault at a time.

    python bench/chaos --repository model_repository --out results/chaos

Loopback only, about four minutes on 2 cores. Writes, per fault, every request's outcome
(`<fault>.csv`), its timeline (`<fault>.png`), and for the run `summary.json` and `table.md`
(the table in docs/reliability.md). Exits 1 if a target was missed, after writing everything.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import uvloop
import yaml
from faults import FAULT_AT_S, Fault, faults
from load import Load, Outcomes
from processes import ChaosFleet
from report import plot, summarise, table

from interfleet.zoo.build import build_zoo

log = logging.getLogger("chaos")

MODELS = ("mlp", "tiny_cnn")
WORKERS = ("w0", "w1", "w2")
STEADY_SHARE = 0.5


def router_retries(fleet: ChaosFleet) -> float:
    """The router's retry counter (0 if it cannot be read, e.g. just restarted)."""
    try:
        text = (
            urllib.request.urlopen(f"http://{fleet.router.info['metrics']}/metrics", timeout=2)
            .read()
            .decode()
        )
    except OSError:
        return 0.0
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("interfleet_router_retries_total")
    )


async def run_fault(fleet: ChaosFleet, load: Load, fault: Fault, rate: float) -> tuple[Outcomes, float]:
    outcomes = Outcomes()
    loop = asyncio.get_running_loop()
    actions: list[asyncio.Future] = []
    fired = {"start": False, "end": False}

    def events(t: float) -> None:
        # Faults run in a thread: stopping or starting a process must not pause the load.
        if t >= FAULT_AT_S and not fired["start"]:
            fired["start"] = True
            actions.append(loop.run_in_executor(None, fault.start, fleet))
        if t >= fault.ends_at_s and not fired["end"]:
            fired["end"] = True
            start = actions[-1]
            actions.append(asyncio.ensure_future(_after(start, loop, fault.end, fleet)))

    def rate_at(t: float) -> float:
        return rate * (fault.load_factor if FAULT_AT_S <= t < fault.ends_at_s else 1.0)

    retries_before = router_retries(fleet)
    await load.run(fault.duration_s, rate_at, outcomes, events)
    await asyncio.gather(*actions)
    return outcomes, router_retries(fleet) - retries_before if fault.name != "router-restart" else None


async def _after(first: asyncio.Future, loop, action, fleet) -> None:
    await first
    await loop.run_in_executor(None, action, fleet)


def write_outcomes(outcomes: Outcomes, path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sent_at_s", "model", "status", "latency_ms", "worker", "send_lag_ms"])
        for row in zip(
            outcomes.sent_at,
            outcomes.model,
            outcomes.status,
            outcomes.latency_ms,
            outcomes.worker,
            outcomes.send_lag_ms,
        ):
            writer.writerow([f"{row[0]:.4f}", row[1], row[2], f"{row[3]:.3f}", row[4], f"{row[5]:.3f}"])


async def main(args: argparse.Namespace) -> int:
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
    fleet = ChaosFleet(config, list(WORKERS), scratch / "run")
    summaries = []
    try:
        fleet.start()
        load = Load(fleet.address, {m: ms / 1e3 for m, ms in slo_ms.items()})
        await load.prepare()
        capacity = await load.capacity_at_slo()
        rate = capacity * STEADY_SHARE
        log.info("capacity %.0f req/s at 99%% within SLO; steady load %.0f req/s", capacity, rate)
        for fault in faults(victim=WORKERS[0]):
            if args.only and fault.name not in args.only:
                continue
            started = time.monotonic()
            outcomes, retries = await run_fault(fleet, load, fault, rate)
            summary = summarise(fault, outcomes, slo_ms, retries)
            summaries.append(summary)
            write_outcomes(outcomes, out / f"{fault.name}.csv")
            plot(fault, outcomes, out / f"{fault.name}.png")
            log.info(
                "%s: %s (%.0f s)",
                fault.name,
                json.dumps(
                    {
                        k: summary[k]
                        for k in ("requests", "ok", "errors", "lost", "p99_ms", "recovery_s", "targets")
                    }
                ),
                time.monotonic() - started,
            )
            await asyncio.sleep(2.0)  # the fleet settles before the next fault
    finally:
        fleet.stop()
    report = {
        "machine": f"{platform.node()} ({platform.machine()}, Python {platform.python_version()})",
        "capacity_rps": round(capacity, 1),
        "steady_rps": round(rate, 1),
        "models": slo_ms,
        "workers": list(WORKERS),
        "faults": summaries,
    }
    (out / "summary.json").write_text(json.dumps(report, indent=2))
    (out / "table.md").write_text(table(summaries) + "\n")
    print(table(summaries))
    missed = [f"{s['fault']}: {name}" for s in summaries for name, ok in s["targets"].items() if not ok]
    if missed:
        print("targets missed: " + "; ".join(missed), file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", default="model_repository")
    parser.add_argument("--out", default="results/chaos")
    parser.add_argument("--only", nargs="*", help="run only these faults")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s chaos: %(message)s")
    sys.exit(uvloop.run(main(parser.parse_args())))  # the generator must outrun the fleet it loads
