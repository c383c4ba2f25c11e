"""Imports run one way: run.py -> argus.entry -> argus.cli -> argus.benchmarks -> argus.tools -> stages ->
engines -> pipeline, no cycles.

`argus.tools` (offline tooling: tune, simulate, train, evaluate, build) sits above the runtime: it may
import stages, engines and pipeline, and none of them imports it. The `argus` package itself (its
`__init__`, which only holds the version) imports nothing, so anything may import it.

Walks every import statement with `ast`, including those inside functions and under
TYPE_CHECKING, so a back-edge cannot hide in a lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A package may import only the packages to its right.
LAYERS = ["run", "argus.__main__", "argus.entry", "argus.cli", "argus.benchmarks", "argus.tools", "stages", "engines",
          "pipeline", "argus"]


def _layer(module: str) -> int:
    """The index in LAYERS of the longest layer name that `module` is or sits under."""
    matches = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    return LAYERS.index(max(matches, key=len))


def _modules() -> dict[str, Path]:
    found = {"run": ROOT / "run.py"}
    for package in ("argus", "stages", "engines", "pipeline"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _type_only(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never executed)."""
    nodes: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            nodes.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return nodes


def _imports(path: Path, module: str, runtime_only: bool = False) -> set[str]:
    """Every project module `module` imports (absolute or relative), anywhere in the file;
    `runtime_only` leaves out the imports under TYPE_CHECKING."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    skip = _type_only(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in ("run", "argus", "stages", "engines", "pipeline")}


def _graph(runtime_only: bool = False) -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {target for target in _imports(path, name, runtime_only)
                       if target in modules and target != name}
    return graph


def _back_edges(graph: dict[str, set[str]]) -> list[str]:
    """`A imports B` for every import from a package to one on its left in LAYERS, sorted."""
    edges = []
    for module, targets in graph.items():
        layer = _layer(module)
        for target in targets:
            if _layer(target) < layer:
                edges.append(f"{module} imports {target}")
    return sorted(edges)


def test_imports_only_run_towards_the_core() -> None:
    back_edges = _back_edges(_graph())
    assert not back_edges, "imports against the layering (" + " -> ".join(LAYERS) + "):\n" + "\n".join(back_edges)


def test_tools_sit_between_benchmarks_and_the_runtime() -> None:
    """The walk covers argus/tools/, and the runtime (stages, engines, pipeline) importing tools is a back-edge,
    while tools importing stages and benchmarks or cli importing tools are not; the version in `argus` is
    below everything, and the runtime importing the CLI is a back-edge."""
    assert "argus.tools.tracking.tune" in _modules() and "argus.tools.build" in _modules()
    graph = {"stages.track": {"argus.tools.tracking.mot"}, "engines.loader": {"argus.tools.build"},
             "pipeline.config": {"argus.tools.shared_data", "argus"},
             "argus.tools.build": {"stages.pose", "engines.select"},
             "argus.benchmarks.tracker": {"argus.tools.tracking.mot"},
             "argus.cli.main": {"argus.tools.build", "argus.benchmarks.pipeline", "argus"},
             "stages.pose": {"argus.cli.common"}}
    assert _back_edges(graph) == ["engines.loader imports argus.tools.build",
                                  "pipeline.config imports argus.tools.shared_data",
                                  "stages.pose imports argus.cli.common",
                                  "stages.track imports argus.tools.tracking.mot"]


def test_no_import_cycles() -> None:
    """No cycle among the imports that run (type-only imports cannot form one at run time)."""
    graph = _graph(runtime_only=True)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target):], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_walk_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The checker itself: an import inside a function, or a relative one, is found."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from stages.plugin import register\n    from . import types\n"
                      "    return register, types\n")
    found = _imports(source, "pipeline.m")
    assert "stages.plugin" in found and "pipeline.types" in found
