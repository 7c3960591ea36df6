"""The `interfleet` command imports only the subcommand it runs (health checks run it every few seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from fleet.cli import SUBCOMMANDS, build_parser, chosen_command

HEAVY = ("lightgbm", "scipy", "onnx", "onnxruntime", "redis", "numpy", "simulation", "router", "predictor")


def modules_after(code: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_help_imports_no_subcommand():
    loaded = modules_after("from fleet.cli import build_parser\nbuild_parser(None).format_help()")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_health_imports_the_probe_alone():
    loaded = modules_after(
        "from fleet.cli import build_parser\nbuild_parser('health').parse_args(['health'])"
    )
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["--help"], None),
        (["health", "--address", "a:1"], "health"),
        (["--version"], None),
        (["nonsense"], None),
    ],
)
def test_the_command_is_the_first_word_that_is_no_option(argv, command):
    assert chosen_command(argv) == command


def test_every_subcommand_is_listed_in_help_and_takes_its_own_arguments():
    assert all(name in build_parser(None).format_help() for name in SUBCOMMANDS)
    assert build_parser("router").parse_args(["router", "--policy", "speed-aware"]).policy == "speed-aware"
