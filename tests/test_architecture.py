"""The library's shape: layers that import only those below them, no import circle, planning and reporting without
torch, and no prior type tested outside the priors package."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from helpers import REPO

from binlatent.code_digest import PACKAGE, import_graph, module_name

# Each layer imports only itself and the layers it names. The package's own __init__ stands outside: it imports
# load_model on first use only, so that importing any module of the configuration layer loads no torch.
LAYERS = {
    "configuration": (
        {"paths", "image", "variants", "sweep", "plan", "configfiles", "code_digest", "provenance", "io", "hdf5",
         "progress", "stats",
         "datasets", "datasets.base", "datasets.store", "datasets.loaders", "datasets.digits", "datasets.file",
         "datasets.patches"},
        set(),
    ),
    "model core": (
        {"rbm", "sampling", "contrastive", "enumeration", "ais", "ais_diagnostics", "parallel", "softplus", "elu",
         "priors", "priors.base", "priors.log_z", "priors.rbm_prior", "priors.factorised", "priors.gaussian",
         "networks", "pixelcnn", "convnets", "likelihoods", "estimators", "models", "rbm_stack", "checkpoints",
         "priors.no_code", "inputs", "importance",
         "datasets.mnist", "datasets.cifar10"},
        {"configuration"},
    ),
    "reporting": (
        {"results", "plots", "seeds", "margins", "tuning", "codecs", "published"},
        {"configuration"},
    ),
    "training and stages": (
        {"training", "pretrain", "finetune", "evaluate", "rate", "stages", "script"},
        {"configuration", "model core", "reporting"},
    ),
}  # fmt: skip
WITHOUT_TORCH = ("configuration", "reporting")


def third_party(path: Path) -> set[str]:
    """The top-level names of the other packages `path` imports anywhere in its body."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names - {"binlatent"}


def layer_of(module: str) -> str:
    short = module.removeprefix("binlatent.")
    return next(layer for layer, (members, _) in LAYERS.items() if short in members)


def test_every_module_belongs_to_one_layer():
    modules = set(import_graph()) - {"binlatent"}
    listed = [f"binlatent.{m}" for members, _ in LAYERS.values() for m in members]
    assert sorted(listed) == sorted(set(listed)) and set(listed) == modules


def test_each_layer_imports_only_itself_and_the_layers_below_it():
    wrong = [
        f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
        for module, targets in import_graph().items()
        if module != "binlatent"
        for target in targets
        if target != "binlatent" and layer_of(target) not in {layer_of(module), *LAYERS[layer_of(module)][1]}
    ]
    assert wrong == []


def test_configuration_and_reporting_import_neither_torch_nor_the_model_core():
    heavy = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if module_name(path) != "binlatent" and layer_of(module_name(path)) in WITHOUT_TORCH
        for name in third_party(path) & {"torch", "torchvision"}
    ]
    assert heavy == []


def test_planning_a_run_loads_neither_torch_nor_matplotlib():
    """Importing the plan, and `snakemake -n` on the default config, load configuration and path code only."""
    code = "import sys, binlatent.plan; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib'}))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
    dry = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-n", "--nolock"], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    assert dry.returncode == 0, dry.stderr[-2000:]
    loaded = set(re.findall(r"\|\s+(\w+)\n", dry.stderr))
    assert "binlatent.plan" in dry.stderr and not loaded & {"torch", "matplotlib"}


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


def test_only_the_priors_package_asks_for_a_prior_type():
    asking = [
        f"{path.name}:{number}"
        for path in PACKAGE.rglob("*.py")
        if path.parent.name != "priors"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"isinstance\(.*Prior", line)
    ]
    assert asking == []
