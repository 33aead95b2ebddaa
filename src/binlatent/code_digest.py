"""The library code a stage runs, as a digest that the plan puts in each job's params: an edit that changes what a
stage computes reruns exactly the jobs of the stages that run that code (and what depends on their outputs), while a
comment, a docstring, formatting, or an edit undone again reruns nothing.

A stage's code is its function in binlatent.stages with the definitions there that it uses, and every library
module it uses with all they import, transitively (a package with all its modules). Each is read as its syntax tree
without docstrings, so that only what runs counts.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAGES = "binlatent.stages"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def module_paths() -> dict[str, Path]:
    """Every module of the library by its dotted name."""
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@functools.cache
def syntax_tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


@functools.cache
def imported_modules(module: str) -> frozenset[str]:
    """The library modules `module` imports anywhere in its body (module level or inside functions)."""
    modules, found = module_paths(), set()
    for node in ast.walk(syntax_tree(modules[module])):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("binlatent"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
    return frozenset(found - {module})


def import_graph() -> dict[str, frozenset[str]]:
    """Each library module and the library modules it imports."""
    return {module: imported_modules(module) for module in module_paths()}


def loads_by_name(module: str) -> bool:
    """Whether `module` imports modules by name (importlib.import_module), as datasets.loaders does its package's."""
    return any(
        isinstance(node, ast.Attribute) and node.attr == "import_module"
        for node in ast.walk(syntax_tree(module_paths()[module]))
    )


def module_closure(roots: set[str]) -> set[str]:
    """The modules `roots` need to run: themselves and all they import, transitively; a module that imports by name
    needs every module of its package."""
    modules, seen, todo = module_paths(), set(), list(roots)
    while todo:
        module = todo.pop()
        if module in seen or module == "binlatent":  # the package's own __init__ only sets an environment variable
            continue
        seen.add(module)
        todo.extend(imported_modules(module))
        if loads_by_name(module):
            package = module.rpartition(".")[0]
            todo.extend(m for m in modules if m.startswith(f"{package}."))
    return seen


def without_docstrings(tree: ast.Module) -> ast.Module:
    """The tree with its docstrings cut out, in place."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


@functools.cache
def module_code(module: str) -> str:
    """What runs of a module: its syntax tree as text, without docstrings (comments and formatting are not in it)."""
    return ast.dump(without_docstrings(ast.parse(module_paths()[module].read_text())), include_attributes=False)


@functools.cache
def stage_statements() -> dict[str, str]:
    """What runs of each top-level definition of binlatent.stages, as `module_code` gives a module's, by name."""
    tree = without_docstrings(ast.parse(module_paths()[STAGES].read_text()))
    return {name: ast.dump(node, include_attributes=False) for name, node in defined_names(tree).items()}


def defined_names(tree: ast.Module) -> dict[str, ast.AST]:
    """The top-level functions, classes and assignments of a module, by the names they define."""
    definitions: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            definitions[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            definitions.update({t.id: node for t in targets if isinstance(t, ast.Name)})
    return definitions


@functools.cache
def stage_definitions() -> tuple[dict[str, ast.AST], dict[str, str]]:
    """binlatent.stages' top-level definitions by name, and the library module each of its imported names is from."""
    origins: dict[str, str] = {}
    modules = module_paths()
    tree = syntax_tree(modules[STAGES])
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("binlatent"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                origins[alias.asname or alias.name] = child if child in modules else node.module
    return defined_names(tree), origins


def stage_code(stage: str) -> tuple[set[str], set[str]]:
    """The definitions in binlatent.stages that the stage function `stage` uses (itself included), and the library
    modules it runs."""
    definitions, origins = stage_definitions()
    if stage not in definitions:
        raise KeyError(f"binlatent.stages has no stage {stage!r}")
    local, roots, todo = set(), set(), [stage]
    while todo:
        name = todo.pop()
        if name in definitions and name not in local:
            local.add(name)
            todo.extend(node.id for node in ast.walk(definitions[name]) if isinstance(node, ast.Name))
        elif name in origins:
            roots.add(origins[name])
    return local, module_closure(roots)


@functools.cache
def stage_digest(stage: str) -> str:
    """A digest of the code the stage function `stage` runs (see the module docstring): 16 hex digits."""
    statements, (local, modules) = stage_statements(), stage_code(stage)
    digest = hashlib.sha256()
    for name in sorted(local):
        digest.update(f"{STAGES}.{name}\n{statements[name]}\n".encode())
    for module in sorted(modules):
        digest.update(f"{module}\n{module_code(module)}\n".encode())
    return digest.hexdigest()[:16]
