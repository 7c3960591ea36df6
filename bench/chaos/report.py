"""What each fault did to the requests: the table docs/reliability.md shows, the targets, the timelines.

Windows: `before` is the steady load up to the fault, `during` from the fault to one second
after it ended, `after` the rest. Recovery time is from the fault's end to the first 0.5 s
bucket from which on every bucket served at least 99% of its requests, lost none, and had a
p99 within 1.5x the steady p99 before the fault (back to steady state).

Failures of a worker fault are split by their message: the router's "not retried" answers
(the deadline left no room for another worker), those naming the victim (the ones a retry or
a hedge should have saved: the SIGKILL target counts these), and those naming another worker
(a live worker missing a deadline, as happens without any fault; `errors_per_1000["before"]`
is that rate).

A run is valid only if the load generator kept its schedule (p99 send lag within
VALID_SEND_LAG_MS over the run): otherwise what it measured is partly itself, so its targets
are not judged and the table says so. Each fault runs several times; `aggregate` reports the
median and the worst of them, and a target is met only if every valid run met it.
"""

from __future__ import annotations

import collections
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from faults import FAULT_AT_S, Fault
from load import Outcomes

BUCKET_S = 0.5
RECOVERED_SHARE = 0.99
STEADY_P99_SLACK = 1.5
RECOVERY_TARGET_S = 2.0
VALID_SEND_LAG_MS = 1.0
GOODPUT_TARGET = 0.9
REFUSED = ("RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED")
NO_ROOM_TO_RETRY = (
    "not retried"  # the router's words for a request whose deadline left no time for another worker
)


def p99(values) -> float | None:
    return round(float(np.percentile(values, 99)), 2) if len(values) else None


def summarise(
    fault: Fault,
    outcomes: Outcomes,
    slo_ms: dict[str, float],
    retries: float | None,
    capacity: float,
    ended_at_s: float,
) -> dict:
    sent = np.array(outcomes.sent_at)
    status = np.array(outcomes.status)
    latency = np.array(outcomes.latency_ms)
    lag = np.array(outcomes.send_lag_ms)
    ok = status == "OK"
    windows = {
        "before": sent < FAULT_AT_S,
        "during": (sent >= FAULT_AT_S) & (sent < ended_at_s + 1.0),
        "after": sent >= ended_at_s + 1.0,
    }
    errors = collections.Counter(s for s in status if s not in ("OK", "LOST"))
    failed = (status != "OK") & (status != "LOST")
    no_room = np.array([NO_ROOM_TO_RETRY in m for m in outcomes.message], dtype=bool)
    # A failure the fault caused names its victim (the router's and the workers' messages name the
    # worker); one naming another worker is that worker missing a deadline, as happens without faults.
    at_victim = np.array(
        [bool(fault.victim) and f"worker {fault.victim}" in m for m in outcomes.message], dtype=bool
    )
    steady_p99 = p99(latency[windows["before"] & ok])
    lag_p99 = p99(lag)
    summary = {
        "fault": fault.name,
        "title": fault.title,
        "ended_at_s": round(ended_at_s, 2),
        "requests": int(len(sent)),
        "ok": int(ok.sum()),
        "errors": dict(sorted(errors.items())),
        "failed_at_victim_with_room_to_retry": int((failed & at_victim & ~no_room).sum()),
        "failed_without_room_to_retry": int((failed & no_room).sum()),
        "failed_elsewhere": int((failed & ~at_victim & ~no_room).sum()),
        "error_examples": sorted({m for m, f in zip(outcomes.message, failed) if f})[:5],
        "lost": int((status == "LOST").sum()),
        # Failures per window, per thousand requests: "before" is what this machine misses with no fault.
        "errors_per_1000": {
            name: round(1000 * float(failed[window].mean()), 1) if window.any() else None
            for name, window in windows.items()
        },
        "router_retries": retries,
        "p99_ms": {name: p99(latency[window & ok]) for name, window in windows.items()},
        "recovery_s": _recovery(sent, ok, status == "LOST", latency, steady_p99, ended_at_s),
        "generator_send_lag_ms": {
            "p50": round(float(np.median(lag)), 3) if len(lag) else None,
            "p99": lag_p99,
        },
        "valid": lag_p99 is not None and lag_p99 <= VALID_SEND_LAG_MS,
    }
    if fault.load_factor > 1:
        during = (sent >= FAULT_AT_S) & (sent < ended_at_s)
        within_slo = np.array([lat <= slo_ms[m] for lat, m in zip(latency, outcomes.model)], dtype=bool)
        refused = during & np.isin(status, REFUSED)
        seconds = ended_at_s - FAULT_AT_S
        summary["overload"] = {
            "offered_rps": round(float(during.sum()) / seconds, 1),
            "admitted": int((during & ok).sum()),
            "refused": int(refused.sum()),
            "admitted_p99_ms": p99(latency[during & ok]),
            "admitted_within_slo": round(float(within_slo[during & ok].mean()), 4)
            if (during & ok).any()
            else None,
            "refused_p50_ms": round(float(np.median(latency[refused])), 2) if refused.any() else None,
            "refused_p99_ms": p99(latency[refused]),
            # Served within their SLO, per second of the overload, over the capacity measured first.
            "goodput_share_of_capacity": round(
                float((during & ok & within_slo).sum()) / seconds / capacity, 3
            ),
        }
    summary["targets"] = _targets(fault, summary) if summary["valid"] else {}
    return summary


def _recovery(
    sent: np.ndarray,
    ok: np.ndarray,
    lost: np.ndarray,
    latency: np.ndarray,
    steady_p99: float | None,
    ended_at_s: float,
) -> float | None:
    """Seconds from the fault's end until every later bucket is back to steady state; None if never."""
    buckets = np.floor(sent / BUCKET_S).astype(int)
    first = int(np.floor(ended_at_s / BUCKET_S))
    last = int(buckets.max()) if len(buckets) else first
    bound = STEADY_P99_SLACK * steady_p99 if steady_p99 else np.inf
    healthy = []
    for bucket in range(first, last + 1):
        mine = buckets == bucket
        served = mine & ok
        healthy.append(
            not lost[mine].any()
            and (not mine.any() or ok[mine].mean() >= RECOVERED_SHARE)
            and (not served.any() or np.percentile(latency[served], 99) <= bound)
        )
    for offset in range(len(healthy)):
        if all(healthy[offset:]):
            return round(max(0.0, (first + offset) * BUCKET_S - ended_at_s), 2)
    return None


def _targets(fault: Fault, summary: dict) -> dict[str, bool]:
    targets = {"no request lost": summary["lost"] == 0}
    if fault.name in ("redis-restart", "router-rolling-restart"):
        targets["no request failed"] = not summary["errors"]
    if fault.name == "worker-sigkill":
        targets["no request failed whose deadline left room for a retry"] = (
            summary["failed_at_victim_with_room_to_retry"] == 0
        )
    if fault.load_factor > 1:
        overload = summary["overload"]
        targets["admitted requests' p99 within SLO"] = (overload["admitted_within_slo"] or 0) >= 0.99
        targets["excess refused in < 5 ms (p99)"] = (
            overload["refused_p99_ms"] is None or overload["refused_p99_ms"] < 5.0
        )
        targets["goodput >= 90% of capacity"] = overload["goodput_share_of_capacity"] >= GOODPUT_TARGET
        targets["steady p99 within 2 s after"] = (
            summary["recovery_s"] is not None and summary["recovery_s"] <= RECOVERY_TARGET_S
        )
    return targets


def aggregate(runs: list[dict]) -> dict:
    """One fault's repeated runs: the median and the worst of each figure, over the valid runs when
    any is valid; a target is met only if every valid run met it."""
    valid = [r for r in runs if r["valid"]] or runs

    def spread(values, worst=max) -> dict:
        values = [v for v in values if v is not None]
        if not values:
            return {"median": None, "worst": None}
        return {"median": round(statistics.median(values), 2), "worst": worst(values)}

    result = {
        "fault": runs[0]["fault"],
        "title": runs[0]["title"],
        "runs": len(runs),
        "valid_runs": sum(r["valid"] for r in runs),
        "requests": spread([r["requests"] for r in valid], min),
        "failed": spread([r["requests"] - r["ok"] - r["lost"] for r in valid]),
        "errors": dict(sum((collections.Counter(r["errors"]) for r in valid), collections.Counter())),
        "lost": spread([r["lost"] for r in valid]),
        "errors_per_1000_before": spread([r["errors_per_1000"]["before"] for r in valid]),
        "errors_per_1000_during": spread([r["errors_per_1000"]["during"] for r in valid]),
        "p99_during_ms": spread([r["p99_ms"]["during"] for r in valid]),
        "p99_before_ms": spread([r["p99_ms"]["before"] for r in valid]),
        "recovery_s": spread(
            [r["recovery_s"] if r["recovery_s"] is not None else float("inf") for r in valid]
        ),
        "send_lag_p99_ms": spread([r["generator_send_lag_ms"]["p99"] for r in runs]),
        "problems": [r.get("fault_problems", []) for r in runs],
    }
    if "overload" in runs[0]:
        overloads = [r["overload"] for r in valid]
        result["overload"] = {
            "admitted_within_slo": spread([o["admitted_within_slo"] for o in overloads], min),
            "admitted_p99_ms": spread([o["admitted_p99_ms"] for o in overloads]),
            "refused_p99_ms": spread([o["refused_p99_ms"] for o in overloads]),
            "goodput_share_of_capacity": spread([o["goodput_share_of_capacity"] for o in overloads], min),
        }
    names = {name for r in runs for name in r["targets"]}
    result["targets"] = (
        {name: all(r["targets"][name] for r in runs if r["valid"]) for name in sorted(names)}
        if result["valid_runs"]
        else {}
    )
    return result


def plot(fault: Fault, outcomes: Outcomes, ended_at_s: float, path: Path) -> None:
    sent = np.array(outcomes.sent_at)
    status = np.array(outcomes.status)
    latency = np.array(outcomes.latency_ms)
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for label, mask, colour in (
        ("served", status == "OK", "tab:green"),
        ("refused", np.isin(status, REFUSED), "tab:orange"),
        ("other error", ~np.isin(status, ("OK", "LOST", *REFUSED)), "tab:red"),
        ("lost", status == "LOST", "black"),
    ):
        if mask.any():
            top.scatter(sent[mask], latency[mask], s=3, c=colour, label=f"{label} ({mask.sum()})", alpha=0.6)
    top.set_yscale("log")
    top.set_ylabel("latency (ms)")
    top.legend(loc="upper right", fontsize=8, markerscale=3)
    edges = np.arange(0, (sent.max() if len(sent) else 1) + BUCKET_S, BUCKET_S)
    for label, mask, colour in (
        ("served/s", status == "OK", "tab:green"),
        ("not served/s", status != "OK", "tab:red"),
    ):
        counts, _ = np.histogram(sent[mask], bins=edges)
        bottom.step(edges[:-1], counts / BUCKET_S, where="post", c=colour, label=label)
    bottom.set_ylabel("requests/s")
    bottom.set_xlabel("seconds")
    bottom.legend(loc="upper right", fontsize=8)
    for axis in (top, bottom):
        axis.axvspan(FAULT_AT_S, ended_at_s, color="grey", alpha=0.15)
    top.set_title(fault.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _spread(value: dict) -> str:
    return f"{value['median']} / {value['worst']}"


def table(aggregates: list[dict]) -> str:
    """The results table of docs/reliability.md (Markdown): median / worst of each fault's runs."""
    rows = [
        "| fault | runs (valid) | requests | failed | errors (by code, all valid runs) | "
        "errors per 1,000 before / during | lost | p99 before / during (ms) | recovery (s) | "
        "generator send lag p99 (ms) | targets |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in aggregates:
        errors = ", ".join(f"{code} {n}" for code, n in sorted(a["errors"].items())) or "none"
        problems = [p for r in a["problems"] for p in r]
        if a["valid_runs"]:
            met = "; ".join(f"{'met' if ok else 'MISSED'}: {name}" for name, ok in a["targets"].items())
        else:
            met = "not judged: no valid run (the generator fell behind its schedule)"
        if problems:
            met += f"; the fault could not be carried out in {len(problems)} run(s): {problems[0]}"
        rows.append(
            f"| {a['title']} | {a['runs']} ({a['valid_runs']}) | {_spread(a['requests'])} | "
            f"{_spread(a['failed'])} | {errors} | "
            f"{_spread(a['errors_per_1000_before'])} / {_spread(a['errors_per_1000_during'])} | {_spread(a['lost'])} | "
            f"{_spread(a['p99_before_ms'])} / {_spread(a['p99_during_ms'])} | {_spread(a['recovery_s'])} | "
            f"{_spread(a['send_lag_p99_ms'])} | {met} |"
        )
    return "\n".join(rows)


def overload_table(aggregates: list[dict]) -> str:
    """The overload figures (median / worst of the valid runs)."""
    rows = [
        "| fault | admitted within SLO | admitted p99 (ms) | refused p99 (ms) | goodput / capacity |",
        "|---|---|---|---|---|",
    ]
    for a in aggregates:
        if "overload" not in a:
            continue
        o = a["overload"]
        rows.append(
            f"| {a['title']} | {_spread(o['admitted_within_slo'])} | {_spread(o['admitted_p99_ms'])} | "
            f"{_spread(o['refused_p99_ms'])} | {_spread(o['goodput_share_of_capacity'])} |"
        )
    return "\n".join(rows)
