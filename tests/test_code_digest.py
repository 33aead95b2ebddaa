"""Code is part of a job's identity: each stage's params carry the digest of the library code it runs, so an edit
that changes what runs replans exactly the jobs that use that code, and a comment, docstring or formatting edit, or
an edit undone, replans nothing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, planned_jobs

from binlatent.code_digest import stage_code, stage_digest
from binlatent.plan import RULES

STAGES = sorted(RULES)
LATENT = ["hybrid", "hybrid_deep", "factorised", "hybrid_scratch", "iwae"]


def edited_package(tmp_path: Path, module: str, old: str, new: str) -> Path:
    """A copy of the library with `old` replaced by `new` once in `module` (e.g. 'finetune.py'); the copy's src/."""
    src = tmp_path / "src"
    shutil.copytree(REPO / "src" / "binlatent", src / "binlatent", ignore=shutil.ignore_patterns("__pycache__"))
    path = src / "binlatent" / module
    text = path.read_text()
    assert text.count(old) >= 1, (module, old)
    path.write_text(text.replace(old, new, 1))
    return src


def digests(src: Path) -> dict[str, str]:
    """Every stage's digest as the library in `src` computes it, in a process of its own."""
    code = "import json, sys; from binlatent.code_digest import stage_digest as d; "
    code += "print(json.dumps({s: d(s) for s in sys.argv[1:]}))"
    result = subprocess.run([sys.executable, "-c", code, *STAGES], env={"PYTHONPATH": str(src)}, capture_output=True,
                            text=True, check=True)  # fmt: skip
    return json.loads(result.stdout)


def changed(tmp_path: Path, module: str, old: str, new: str) -> set[str]:
    ours = {stage: stage_digest(stage) for stage in STAGES}
    theirs = digests(edited_package(tmp_path, module, old, new))
    return {stage for stage in STAGES if ours[stage] != theirs[stage]}


def test_each_stage_runs_the_code_it_needs_and_no_other():
    local, modules = stage_code("finetune")
    assert {"finetune", "setup", "checkpointer"} <= local and "evaluate" not in local
    assert {"binlatent.finetune", "binlatent.models", "binlatent.priors.rbm_prior"} <= modules
    assert "binlatent.plots" not in modules and "binlatent.evaluate" not in modules
    assert "binlatent.datasets.mnist" in stage_code("binarize")[1]  # loaded by name: the whole package counts
    assert "binlatent.plots" in stage_code("figures")[1] and "binlatent.finetune" not in stage_code("figures")[1]


@pytest.mark.parametrize(
    ("module", "old", "new"),
    [
        ("finetune.py", '"""Joint fine-tuning', '"""Joint fine-tuning, reworded:'),  # a docstring
        ("finetune.py", "        total = 0.0\n", "        total = 0.0  # a comment\n"),
        ("pretrain.py", "    return probs, bernoulli(probs, generator).to(torch.uint8)",
         "    return (probs, bernoulli(probs, generator).to(torch.uint8))"),  # formatting
    ],
)  # fmt: skip
def test_comments_docstrings_and_formatting_change_no_digest(module, old, new, tmp_path):
    assert changed(tmp_path, module, old, new) == set()


@pytest.mark.parametrize(
    ("module", "old", "new", "stages"),
    [
        ("finetune.py", '= cfg["prior_lr"]', '= 3 * cfg["prior_lr"]', {"finetune", "tune"}),
        ("plots.py", "dpi=110", "dpi=100", {"figures", "tuning_table"}),
        ("stages.py", "eval_seconds=time.perf_counter() - t0", "eval_seconds=0.0", {"evaluate"}),
        ("rbm.py", "smoothing: float = 0.05", "smoothing: float = 0.1", set(STAGES) - {"binarize", "tuning_table"}),
        ("datasets/digits.py", "def ", "def unused() -> None:\n    pass\n\n\ndef ", {"binarize"}),
    ],
)  # fmt: skip
def test_a_code_edit_changes_the_digests_of_exactly_the_stages_that_run_it(module, old, new, stages, tmp_path):
    assert changed(tmp_path, module, old, new) == stages


@pytest.mark.workflow
def test_a_code_edit_replans_exactly_its_jobs_and_a_revert_or_comment_nothing(smoke_run, tmp_path, monkeypatch):
    """On a finished smoke run: the library with fine-tuning's prior step tripled plans every fine-tuning and what
    depends on it; the same library with a comment added instead, or as it was, plans nothing."""
    edit = ('prior_group["lr"] = cfg["prior_lr"]', 'prior_group["lr"] = 3 * cfg["prior_lr"]')
    monkeypatch.setenv("PYTHONPATH", str(edited_package(tmp_path / "code", "finetune.py", *edit)))
    expected = {f"finetune_{m}" for m in LATENT} | {f"evaluate_{m}" for m in LATENT} | {"figures"}
    assert planned_jobs(smoke_run) == expected
    comment = ("        total = 0.0\n", "        total = 0.0  # a comment\n")
    monkeypatch.setenv("PYTHONPATH", str(edited_package(tmp_path / "comment", "finetune.py", *comment)))
    assert planned_jobs(smoke_run) == set()
    monkeypatch.setenv("PYTHONPATH", str(REPO / "src"))  # the library as it is: the edit undone
    assert planned_jobs(smoke_run) == set()
