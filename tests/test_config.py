"""Config validation before any job starts, the dry-run DAG, and the conda environment's pins."""

from __future__ import annotations

import os
import re
import tomllib

import pytest
import yaml
from helpers import REPO, snakemake

RULES = ["binarize", "pretrain_encoder_rbm", "pretrain_autoencoder", "pretrain_prior", "finetune", "train_pixel_rbm",
         "evaluate", "figures"]  # fmt: skip


def test_dry_run_lists_every_stage_as_its_own_rule_with_a_log(tmp_path):
    result = snakemake("-n", "--cores", "1", "--config", f"outdir={tmp_path}")
    assert result.returncode == 0, result.stderr
    for rule in RULES:
        assert re.search(rf"^rule {rule}:", result.stdout, re.M), rule
    # every job has a log: data, 2 RBMs starting stage one, stage one, 2 prior layers, 6 models x 2, figures
    assert result.stdout.count("    log: ") == 19


BAD_CONFIGS = {
    "negative size": ({"network": {"n_latent": -5}}, "-5 is less than the minimum of 1"),
    "unknown key": ({"finetune": {"epoch": 3}}, "'epoch' was unexpected"),
    "unknown estimator": ({"finetune": {"estimator": "reinforce"}}, "'reinforce' is not one of ['vimco', 'rws']"),
    "K below 2 for the training bound": ({"finetune": {"K": 1}}, "1 is less than the minimum of 2"),
    "unknown dataset": ({"dataset": "imagenet"}, "'imagenet' is not one of"),
    "schedule not ending at 1": (
        {"evaluate": {"ais": {"schedule": [[1.5, 10]]}}},
        "1.5 is greater than the maximum of 1",
    ),
    "typo at top level": ({"seeed": 3}, "'seeed' was unexpected"),
    "unknown prior": ({"models": {"flow": {"prior": "flow"}}}, "'flow' is not one of ['rbm', 'factorised'"),
    "stage one for Gaussian latents": (
        {"models": {"iwae": {"prior": "gaussian", "stage1": True}}},
        "config: models.iwae: stage1 pretraining needs a binary code (prior rbm or factorised), not gaussian",
    ),
    "stage two without stage one": (
        {"models": {"half": {"prior": "rbm", "stage1": False, "stage2": True}}},
        "config: models.half: stage2 fits an RBM prior to stage-one codes; it needs prior rbm and stage1",
    ),
    "unknown decoder of a model": (
        {"models": {"hybrid": {"prior": "rbm", "decoder": "pixelcnn"}}},
        "'pixelcnn' is not one of ['mirrored', 'autoregressive']",
    ),
    "a decoder on the RBM on pixels": (
        {"models": {"rbm_pixels": {"prior": "pixels", "decoder": "autoregressive"}}},
        "config: models.rbm_pixels: an RBM on pixels has no decoder; remove 'decoder'",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_stops_before_any_job_naming_key_and_value(case, tmp_path):
    override, message = BAD_CONFIGS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"outdir": str(tmp_path / "out"), **override}))
    result = snakemake("-n", "--cores", "1", "--configfile", str(path))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output, output[-2000:]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("env_file", sorted(p.name for p in (REPO / "envs").glob("*.yaml")))
def test_conda_env_pins_match_the_project_pins(env_file):
    env = yaml.safe_load((REPO / "envs" / env_file).read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = dict(p.split("==") for p in pip if "==" in p)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = dict(p.split("==") for p in project["dependencies"])
    assert env_pins == pins
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["requires-python"] == ">=" + python.split("=")[1]


# conda's channels cannot be reached from the test machines, so no environment is built here. To plan a
# --use-conda run, snakemake only asks conda for its info, its version and its channel priority: this stand-in
# answers those three queries and refuses everything else (creating an environment among them).
STAND_IN_CONDA = """#!/bin/sh
case "$*" in
  "info --json") echo '{"conda_prefix": "%s", "platform": "linux-64"}' ;;
  "--version") echo "conda 24.11.3" ;;
  "config --get channel_priority --json") echo '{"get": {"channel_priority": "strict"}}' ;;
  *) echo "stand-in conda: refusing 'conda $*'" >&2; exit 1 ;;
esac
"""


def test_the_workflow_plans_with_use_conda_every_job_in_the_pinned_env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "conda").write_text(STAND_IN_CONDA % (tmp_path / "conda"))
    (bin_dir / "conda").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = snakemake(
        "-n", "--use-conda", "--conda-prefix", str(tmp_path / "envs"), "--cores", "1", "--config", f"outdir={tmp_path}",
        env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for rule in RULES:
        assert re.search(rf"^rule {rule}:", result.stdout, re.M), rule
    # one line per environment the planned jobs use: every rule runs in envs/pipeline.yaml
    assert re.findall(r"^Conda environment (\S+) will be created", result.stdout, re.M) == ["envs/pipeline.yaml"]


def test_every_rule_uses_the_conda_env_and_has_log_and_benchmark():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for rule in re.findall(r"^rule (\w+):", text, re.M):
            body = text.split(f"rule {rule}:")[1].split("\nrule ")[0]
            for directive in ("log:", "benchmark:", "conda:"):
                assert directive in body, (smk.name, rule, directive)


def test_schema_defaults_are_the_default_config():
    """config.yaml and the schema's defaults say the same: one source of truth for the default run."""
    from snakemake.utils import validate

    defaults: dict = {}
    validate(defaults, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert defaults == yaml.safe_load((REPO / "config.yaml").read_text())


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_plan_the_workflow(profile, tmp_path):
    result = snakemake("-n", "--profile", f"profiles/{profile}", "--config", f"outdir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "rule finetune:" in result.stdout and "mem_mb=4000" in result.stdout
