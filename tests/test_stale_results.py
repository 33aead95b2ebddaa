"""Nothing stale after a deletion or a failure: the run's target is every artifact of every job, so a plain rerun
remakes whatever was deleted, or removed by a failed job, and everything downstream of it, to the same numbers; and
a failed figures job leaves the previous figures and table in place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from helpers import SMOKE_MODELS, metrics, planned_jobs, snakemake

pytestmark = pytest.mark.workflow

STACK = "rbm_stack-mirrored"
PRIOR = {f"pretrain_prior_{STACK}_h16", f"pretrain_prior_{STACK}_h16-h8"}
PRETRAINED = ["hybrid", "hybrid_deep", "factorised"]
DELETIONS = [  # what is deleted, in turn, and the jobs a plain rerun then plans
    ("hybrid", {"finetune_hybrid", "evaluate_hybrid", "figures"}),  # a model's folder
    ("iwae/metrics.csv", {"evaluate_iwae", "figures"}),
    ("rbm_pixels/curves.h5", {"train_pixel_rbm_rbm_pixels", "evaluate_rbm_pixels", "figures"}),
    (f"stage2/{STACK}/h16", {*PRIOR, *{f"{job}_{m}" for job in ("finetune", "evaluate") for m in PRETRAINED[:2]},
                             "figures"}),
    (f"stage1/{STACK}/codes.h5", {f"pretrain_autoencoder_{STACK}", *PRIOR, "figures",
                                  *{f"{job}_{m}" for job in ("finetune", "evaluate") for m in PRETRAINED}}),
    ("figures", {"figures"}),
]  # fmt: skip


def results_table(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "figures" / "results.csv").drop(columns=["train_seconds"], errors="ignore")


def run(out: Path, *args: str):
    return snakemake("--cores", "2", "--configfile", "configs/smoke.yaml", "--config", f"outdir={out}", *args)


@pytest.fixture
def finished_run(smoke_run, tmp_path) -> Path:
    """A copy of the finished smoke run (times kept), to delete from."""
    out = tmp_path / "run"
    shutil.copytree(smoke_run, out, copy_function=shutil.copy2)
    return out


def test_a_deleted_artifact_is_remade_with_everything_downstream_to_the_same_table(finished_run, smoke_run):
    assert planned_jobs(finished_run) == set()
    for deleted, expected in DELETIONS:
        path = finished_run / deleted
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        assert planned_jobs(finished_run) == expected, deleted
        result = run(finished_run)
        assert result.returncode == 0, result.stderr[-3000:]
        assert planned_jobs(finished_run) == set(), deleted
        pd.testing.assert_frame_equal(results_table(finished_run), results_table(smoke_run))
    for model in SMOKE_MODELS:
        pd.testing.assert_frame_equal(metrics(finished_run, model), metrics(smoke_run, model))


def test_a_failed_figures_job_leaves_the_previous_figures_and_says_which_input_failed(finished_run):
    figures = finished_run / "figures"
    before = {path.name: path.read_bytes() for path in figures.iterdir()}
    checkpoint = finished_run / "factorised" / "model.pt"
    times = checkpoint.stat()
    checkpoint.write_bytes(b"not a checkpoint")
    os.utime(checkpoint, ns=(times.st_atime_ns, times.st_mtime_ns))  # as old as before: only the forced job runs
    result = run(finished_run, "--forcerun", "figures")
    assert result.returncode != 0
    assert {path.name: path.read_bytes() for path in figures.iterdir()} == before
    log = (finished_run / "logs" / "figures.log").read_text()
    assert f"{checkpoint}: not a readable checkpoint" in log
    assert not any(path.name.startswith(".figures") for path in finished_run.iterdir())  # no half-built folder left
