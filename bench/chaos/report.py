"""What each fault did to the requests: the table docs/reliability.md shows, the targets, the timelines.

Windows: `before` is the steady load up to the fault, `during` from the fault to one second
after it ended, `after` the rest. Recovery time is from the fault's end (for the overload: from
the load's return to normal) to the first 0.5 s bucket from which on every bucket served at
least 99% of its requests within their deadline, none lost.
"""

from __future__ import annotations

import collections
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from faults import FAULT_AT_S, Fault
from load import Outcomes

BUCKET_S = 0.5
RECOVERED_SHARE = 0.99
REFUSED = ("RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED")


def p99(values) -> float | None:
    return round(float(np.percentile(values, 99)), 2) if len(values) else None


def summarise(fault: Fault, outcomes: Outcomes, slo_ms: dict[str, float], retries: float) -> dict:
    sent = np.array(outcomes.sent_at)
    status = np.array(outcomes.status)
    latency = np.array(outcomes.latency_ms)
    ok = status == "OK"
    windows = {
        "before": sent < FAULT_AT_S,
        "during": (sent >= FAULT_AT_S) & (sent < fault.ends_at_s + 1.0),
        "after": sent >= fault.ends_at_s + 1.0,
    }
    errors = collections.Counter(s for s in status if s not in ("OK", "LOST"))
    failed = (status != "OK") & (status != "LOST")
    summary = {
        "fault": fault.name,
        "title": fault.title,
        "requests": int(len(sent)),
        "ok": int(ok.sum()),
        "errors": dict(sorted(errors.items())),
        "lost": int((status == "LOST").sum()),
        # Failures per window, per thousand requests: "before" is what this machine misses with no fault.
        "errors_per_1000": {
            name: round(1000 * float(failed[window].mean()), 1) if window.any() else None
            for name, window in windows.items()
        },
        "router_retries": retries,
        "p99_ms": {name: p99(latency[window & ok]) for name, window in windows.items()},
        "recovery_s": _recovery(sent, ok, status == "LOST", fault),
    }
    if fault.load_factor > 1:
        during = windows["during"] & (sent < fault.ends_at_s)
        admitted_within_slo = [
            lat <= slo_ms[m]
            for lat, m, is_ok, in_window in zip(latency, outcomes.model, ok, during)
            if is_ok and in_window
        ]
        refused = during & np.isin(status, REFUSED)
        summary["overload"] = {
            "admitted": int((during & ok).sum()),
            "refused": int(refused.sum()),
            "admitted_p99_ms": p99(latency[during & ok]),
            "admitted_within_slo": round(float(np.mean(admitted_within_slo)), 4)
            if admitted_within_slo
            else None,
            "refused_p50_ms": round(float(np.median(latency[refused])), 2) if refused.any() else None,
            "refused_p99_ms": p99(latency[refused]),
            "client_send_lag_p99_ms": p99(np.array(outcomes.send_lag_ms)[during]),
        }
    summary["targets"] = _targets(fault, summary)
    return summary


def _recovery(sent: np.ndarray, ok: np.ndarray, lost: np.ndarray, fault: Fault) -> float | None:
    """Seconds from the fault's end until every later bucket serves RECOVERED_SHARE; None if never."""
    buckets = np.floor(sent / BUCKET_S).astype(int)
    first = int(np.floor(fault.ends_at_s / BUCKET_S))
    last = int(buckets.max()) if len(buckets) else first
    healthy = []
    for bucket in range(first, last + 1):
        mine = buckets == bucket
        healthy.append(not lost[mine].any() and (not mine.any() or ok[mine].mean() >= RECOVERED_SHARE))
    for offset in range(len(healthy)):
        if all(healthy[offset:]):
            return round(max(0.0, (first + offset) * BUCKET_S - fault.ends_at_s), 2)
    return None


def _targets(fault: Fault, summary: dict) -> dict[str, bool]:
    targets = {"no request lost": summary["lost"] == 0}
    if fault.name == "redis-restart":
        targets["no request failed"] = not summary["errors"]
    if fault.name == "worker-sigkill":
        targets["only in-flight requests retried, none failed"] = not summary["errors"]
    if fault.name == "overload-3x":
        overload = summary["overload"]
        targets["admitted requests' p99 within SLO"] = (
            overload["admitted_within_slo"] is not None and overload["admitted_within_slo"] >= 0.99
        )
        targets["excess refused in < 5 ms (p99)"] = (
            overload["refused_p99_ms"] is not None and overload["refused_p99_ms"] < 5.0
        )
    return targets


def plot(fault: Fault, outcomes: Outcomes, path: Path) -> None:
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
        axis.axvspan(FAULT_AT_S, fault.ends_at_s, color="grey", alpha=0.15)
    top.set_title(fault.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(summaries: list[dict]) -> str:
    """The results table of docs/reliability.md (Markdown)."""
    rows = [
        "| fault | requests | served | errors (by code) | errors per 1,000 before / during / after | lost | "
        "p99 before / during / after (ms) | recovery (s) | targets |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        errors = ", ".join(f"{code} {n}" for code, n in s["errors"].items()) or "none"
        p = s["p99_ms"]
        met = [f"{'met' if ok else 'MISSED'}: {name}" for name, ok in s["targets"].items()]
        e = s["errors_per_1000"]
        rows.append(
            f"| {s['title']} | {s['requests']} | {s['ok']} | {errors} | "
            f"{e['before']} / {e['during']} / {e['after']} | {s['lost']} | "
            f"{p['before']} / {p['during']} / {p['after']} | {s['recovery_s']} | {'; '.join(met)} |"
        )
    return "\n".join(rows)
