"""The house's floors, checked from the source: every import points down, and none forms a cycle.

Each top-level package is a floor (docs/ARCHITECTURE.md, "Floors"). A module may import its own
package and the floors below its own, never a peer on the same floor or anything above. The
imports are read with `ast` from every file, including those inside functions (a lazy import
is still a dependency), so this draws the graph a reader or a static tool would.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lowest first; packages on one floor are peers and may not import each other.
FLOORS: tuple[frozenset[str], ...] = (
    frozenset({"interfleet"}),  # shared vocabulary, protocol, plumbing
    frozenset({"emulation"}),  # emulated GPUs: a device workers run on
    frozenset({"predictor", "loadgen", "services"}),  # the services below the router
    frozenset({"router", "planner"}),  # read the predictor's models
    frozenset({"simulation"}),  # drives the router core, workers' queues, the emulator
    frozenset({"fleet"}),  # the `interfleet` command and `interfleet up`
)
FLOOR_OF = {package: level for level, floor in enumerate(FLOORS) for package in floor}

# The pure layers: decisions over plain data, which a simulator runs too.
PURE = (
    "router/policies",
    "router/core.py",
    "router/placements.py",
    "planner/capacity.py",
    "planner/milp.py",
    "planner/planner.py",
    "planner/baselines.py",
    "planner/replan.py",
    "planner/live_fleet.py",
    "services/worker/batching",
    "interfleet/placement.py",
    "interfleet/devices.py",
    "interfleet/solo.py",
    "interfleet/errors.py",
)
FRAMEWORKS = {"grpc", "redis", "tritonclient", "onnxruntime", "prometheus_client", "uvloop"}


def source_files() -> list[Path]:
    return sorted(p for package in FLOOR_OF for p in (ROOT / package).rglob("*.py") if "_pb2" not in p.name)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in `path`; with `top_level_only`, those that run
    when the module is imported (not inside a function or an `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from router.policies import base` names the module router.policies.base
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def known_modules() -> set[str]:
    return {module_name(p) for p in source_files()}


def resolve(name: str, modules: set[str]) -> str | None:
    """The project module `name` is, or its nearest enclosing package; None outside the project."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_no_import_points_up_or_sideways():
    wrong = []
    for path in source_files():
        home = module_name(path).split(".")[0]
        for line, name in imports(path):
            target = name.split(".")[0]
            if target in FLOOR_OF and target != home and FLOOR_OF[target] >= FLOOR_OF[home]:
                way = "sideways" if FLOOR_OF[target] == FLOOR_OF[home] else "up"
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name} ({way}: {home} -> {target})")
    assert not wrong, "imports against the floors:\n" + "\n".join(wrong)


def test_module_imports_form_no_cycle():
    modules = known_modules()
    graph: dict[str, set[str]] = {}
    for path in source_files():
        here = module_name(path)
        graph[here] = {
            t
            for _, name in imports(path, top_level_only=True)
            if (t := resolve(name, modules)) and t != here and not here.startswith(t + ".")
        }
    # Depth-first search; a grey node met again closes a cycle.
    colour: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        colour[node] = "grey"
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == "grey":
                cycles.append(trail[trail.index(nxt) :] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in colour:
                visit(nxt, trail + [nxt])
        colour[node] = "black"

    for node in sorted(graph):
        if node not in colour:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_every_top_level_package_is_on_a_floor():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(FLOOR_OF), f"packages without a floor: {sorted(packages - set(FLOOR_OF))}"


@pytest.mark.parametrize("layer", PURE)
def test_the_pure_layers_import_no_framework(layer):
    """Policies, batchers and the router core run in the simulator: no gRPC, Redis or runtime in them."""
    paths = [ROOT / layer] if layer.endswith(".py") else sorted((ROOT / layer).rglob("*.py"))
    modules = known_modules()
    seen: set[str] = set()
    queue = [module_name(p) for p in paths]
    dragged = []
    while queue:  # follow project imports transitively: a pure module must not reach a framework either
        here = queue.pop()
        if here in seen:
            continue
        seen.add(here)
        path = ROOT / (here.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / here.replace(".", "/") / "__init__.py"
        for _, name in imports(path, top_level_only=True):
            if name.split(".")[0] in FRAMEWORKS:
                dragged.append(f"{here} imports {name}")
            elif (target := resolve(name, modules)) is not None:
                queue.append(target)
    assert not dragged, f"{layer} reaches a framework:\n" + "\n".join(sorted(set(dragged)))


def test_the_cli_names_only_modules_that_exist():
    """`interfleet <command>` imports its module by name when run: each name must be a real module."""
    sys.path.insert(0, str(ROOT))
    from fleet.cli import SUBCOMMANDS

    modules = known_modules()
    missing = {command: module for command, (module, _) in SUBCOMMANDS.items() if module not in modules}
    assert not missing
