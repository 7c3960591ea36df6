"""The deployment files through a real policy scanner: checkov over the Kubernetes manifests as
kustomize renders them (both overlays), the Dockerfile, and the compose stack's files for
secrets written in them. No check may fail; a check is skipped only where the file says why
(`checkov.io/skipN: CHECK=reason` on a manifest, `# checkov:skip=CHECK:reason` in the Dockerfile).

`make test` provides checkov in a virtualenv of its own (`make scanner`, `$CHECKOV`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = os.environ.get("CHECKOV") or shutil.which("checkov")

pytestmark = pytest.mark.skipif(
    not (CHECKOV and Path(CHECKOV).exists()),
    reason="checkov not installed: `make test` installs it (make scanner)",
)


def scan(*args: str) -> list[dict]:
    done = subprocess.run(
        [CHECKOV, *args, "--skip-download", "--compact", "--quiet", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: something failed, reported below
    report = json.loads(done.stdout) if done.stdout.strip() else []
    return report if isinstance(report, list) else [report]


def failures(reports: list[dict]) -> list[str]:
    return [
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']})"
        for report in reports
        for c in report.get("results", {}).get("failed_checks", [])
    ]


def skipped(reports: list[dict]) -> list[dict]:
    return [c for report in reports for c in report.get("results", {}).get("skipped_checks", [])]


def test_the_kubernetes_manifests_pass_every_check_or_say_why_not(tmp_path):
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (for `kubectl kustomize`) is not on PATH"
    for overlay in ("cpu", "mixed-gpu"):
        rendered = subprocess.run(
            [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        (tmp_path / f"{overlay}.yaml").write_text(rendered)
    reports = scan("-d", str(tmp_path), "--framework", "kubernetes")
    assert sum(r["summary"]["passed"] for r in reports) > 500  # the scan did run its checks
    assert failures(reports) == []
    for check in skipped(reports):
        assert len(check.get("suppress_comment", "")) > 20, f"{check['check_id']} skipped without a reason"


def test_the_dockerfile_passes_every_check_or_says_why_not():
    reports = scan("-f", str(ROOT / "Dockerfile"), "--framework", "dockerfile")
    assert sum(r["summary"]["passed"] for r in reports) > 50
    assert failures(reports) == []
    for check in skipped(reports):
        assert len(check.get("suppress_comment", "")) > 20, f"{check['check_id']} skipped without a reason"


def test_no_secret_is_written_in_the_compose_stack_or_the_fleet_files(tmp_path):
    # checkov has no compose framework; its secrets scan reads the files as they are.
    for name in (
        "docker-compose.yml",
        "configs/compose.yaml",
        "configs/local.yaml",
        "deploy/k8s/base/fleet.yaml",
    ):
        shutil.copy(ROOT / name, tmp_path / name.replace("/", "_"))
    reports = scan("-d", str(tmp_path), "--framework", "secrets")
    assert failures(reports) == []
