"""A killed workflow resumes each training stage from its last checkpoint and ends where an
uninterrupted run ends; two runs with the same seed give identical metrics and arrays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from helpers import REPO, SMOKE_MODELS, metrics, snakemake

pytestmark = pytest.mark.workflow

STAGES = [  # training rules
    "pretrain_encoder_rbm1", "pretrain_autoencoder_rbm_stack-mirrored", "pretrain_prior_rbm_stack-mirrored_h16",
    "finetune_hybrid", "finetune_factorised", "train_pixel_rbm_rbm_pixels",
]  # fmt: skip


def start(out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "--nolock", "--cores", "1", "--rerun-incomplete"]
    cmd += ["--configfile", "configs/smoke.yaml", "--config", f"outdir={out}"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def kill_at_first_checkpoint(process: subprocess.Popen, state_dir: Path, skip: set[str], timeout: float = 300) -> str:
    """SIGKILL the whole run as soon as a training stage not in `skip` has written its resumable
    checkpoint; return that stage's name, or "" if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [name for name in STAGES if name not in skip and (state_dir / f"{name}.pt").exists()]
        if found:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return found[0]
        if process.poll() is not None:
            return ""
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    raise TimeoutError(f"no checkpoint appeared in {state_dir}")


def arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda name, item: out.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
        return out


def test_killed_stages_resume_and_match_the_uninterrupted_run(smoke_run, tmp_path):
    out = tmp_path / "killed"
    killed: set[str] = set()
    while killed != set(STAGES):
        stage = kill_at_first_checkpoint(start(out), out / ".state", killed)
        if not stage:  # the run finished: a stage completed before it could be caught mid-run
            break
        killed.add(stage)
        assert not (out / "figures").exists()
    assert {
        "pretrain_encoder_rbm1",
        "pretrain_autoencoder_rbm_stack-mirrored",
        "pretrain_prior_rbm_stack-mirrored_h16",
    } <= killed
    assert killed & {"finetune_hybrid", "finetune_factorised"}
    result = snakemake(
        "--cores", "1", "--rerun-incomplete", "--configfile", "configs/smoke.yaml", "--config", f"outdir={out}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for stage in killed:
        log = (out / "logs" / f"{stage}.log").read_text()
        assert "resuming from checkpoint at epoch" in log, stage
    for model in SMOKE_MODELS:
        pd.testing.assert_frame_equal(metrics(out, model), metrics(smoke_run, model))
    paths = [
        "stage1/rbm_stack/rbm1/codes.h5",
        "stage1/rbm_stack-mirrored/codes.h5",
        "stage2/rbm_stack-mirrored/h16/prior_curves.h5",
        "hybrid/evaluation.h5",
        "rbm_pixels/curves.h5",
    ]
    for path in paths:
        ours, reference = arrays(out / path), arrays(smoke_run / path)
        assert ours.keys() == reference.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], reference[key], err_msg=f"{path}:{key}")
