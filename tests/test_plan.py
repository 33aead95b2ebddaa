"""The plan of jobs is the one job graph: for every config the workflow ships, its jobs are exactly the jobs that
`snakemake -n` plans on an empty output folder, with the same outputs; and the runner without Snakemake
(bench/stages.py) writes artifacts with the same provenance as the workflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import h5py
import pytest
from helpers import REPO, snakemake

from binlatent.checkpoints import load_checkpoint
from binlatent.configfiles import load_config
from binlatent.datasets import DataError
from binlatent.plan import Plan, PlanError, flat

LAYERED = [  # configs meant to be given after another, as their first lines say
    ["configs/autoregressive.yaml", "configs/autoregressive_tuning.yaml"],
    ["configs/patches.yaml", "configs/patches_peers.yaml"],
]
CONFIG_FILES = [[], *[[f"configs/{path.name}"] for path in sorted((REPO / "configs").glob("*.yaml"))], *LAYERED]


def dry_run_jobs(stdout: str) -> dict[str, set[str]]:
    """The jobs of a `snakemake -n` printout, by their log file: each one's outputs."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", stdout):
        log, outputs = re.search(r"^\s+log: (\S+)$", block, re.M), re.search(r"^\s+output: (.+)$", block, re.M)
        if log and outputs:
            jobs[log[1]] = {re.sub(r" \(\w+\)$", "", path) for path in outputs[1].split(", ")}  # less flags
    return jobs


@pytest.mark.parametrize("files", CONFIG_FILES, ids=lambda files: "+".join(files) or "config.yaml")
def test_the_plans_jobs_are_exactly_the_jobs_snakemake_plans(files, tmp_path):
    out = tmp_path / "out"
    plan = Plan(load_config(REPO, files, outdir=str(out)))
    result = snakemake("-n", *(["--configfile", *files] if files else []), "--config", f"outdir={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    planned = dry_run_jobs(result.stdout)
    assert planned == {job.log: set(flat(job.outputs.values())) for job in plan.jobs}
    assert len(planned) == len(plan.jobs) > 5


def test_a_config_the_plan_cannot_run_is_refused_before_any_job_names_the_key(tmp_path):
    with pytest.raises(DataError, match="data_path is empty: pass --config data_path="):
        Plan(load_config(REPO, dataset="file", outdir=str(tmp_path)))
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(PlanError, match="outdir .* is a file, not a folder"):
        Plan(load_config(REPO, outdir=str(tmp_path / "taken")))


def provenance_of(path) -> dict:
    """The provenance an artifact records, without the parts that differ between two runs of the same code."""
    if str(path).endswith(".h5"):
        with h5py.File(path) as f:
            recorded = {key: f.attrs[key] for key in ("config", "seed", "git_revision", "library_versions")}
    else:
        recorded = json.loads(load_checkpoint(path)["provenance"])
    return {**recorded, "config": json.loads(recorded["config"])}


@pytest.mark.workflow
def test_the_runner_without_snakemake_writes_the_workflows_provenance(smoke_run, tmp_path):
    out = tmp_path / "bench"
    cmd = [sys.executable, "bench/stages.py", "--configfile", "configs/smoke.yaml", "--outdir", str(out)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    plan = Plan(load_config(REPO, ["configs/smoke.yaml"], outdir=str(out)))
    compared = 0
    for job in plan.jobs:
        for path in flat(job.outputs.values()):
            if path.endswith((".h5", ".pt")):
                ours, workflow = provenance_of(path), provenance_of(smoke_run / path.removeprefix(f"{out}/"))
                assert ours == workflow, path
                compared += 1
    assert compared > 20
