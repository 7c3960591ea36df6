"""Every benchmark script starts: its imports resolve and it answers --help (they run for minutes, so
an import broken by a rename would otherwise surface only when someone next reproduces a figure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if "ArgumentParser(" in p.read_text())
HELPERS = sorted(p for p in (ROOT / "bench").glob("*.py") if p not in SCRIPTS)


@pytest.mark.parametrize("script", [*SCRIPTS, ROOT / "bench" / "chaos"], ids=lambda p: p.name)
def test_a_benchmark_answers_help(script):
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


@pytest.mark.parametrize("helper", HELPERS, ids=lambda p: p.name)
def test_a_benchmark_helper_imports(helper):
    code = f"import sys; sys.path.insert(0, {str(helper.parent)!r}); import {helper.stem}"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
