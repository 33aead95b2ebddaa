"""The library's shape: no import circle between its modules, and no prior type tested outside priors.py."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from helpers import REPO

PACKAGE = REPO / "src" / "binlatent"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The library modules `path` imports anywhere in its body (module level or inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("binlatent"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
    return found - {module_name(path)}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def test_no_two_library_modules_import_each_other_directly_or_through_others():
    graph = import_graph()
    assert "binlatent.stages" in graph and "binlatent.datasets.base" in graph
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            assert state.get(target) != "open", "import circle: " + " -> ".join([*trail, module, target])
            if target not in state:
                visit(target, [*trail, module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])


def test_no_library_module_imports_the_stage_layer():
    graph = import_graph()
    assert [m for m, targets in graph.items() if "binlatent.stages" in targets] == []


def test_only_priors_py_asks_for_a_prior_type():
    asking = [
        f"{path.name}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "priors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"isinstance\(.*Prior", line)
    ]
    assert asking == []
