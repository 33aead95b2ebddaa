"""The whole DAG through the real snakemake command on configs/smoke.yaml, and its artifacts."""

from __future__ import annotations

import json
import math
import re

import h5py
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import SMOKE_MODELS, snakemake

from binlatent import load_model
from binlatent.checkpoints import load_checkpoint
from binlatent.models import MODEL_FORMAT

pytestmark = pytest.mark.workflow

FIGURES = [
    "samples.png", "reconstructions.png", "training_curves.png", "ais_diagnostic.png", "ablations.png", "results.png"
]  # fmt: skip
MODELS = SMOKE_MODELS


def test_every_step_writes_its_artifact_and_log(smoke_run):
    for path in [
        "data/digits.h5", "stage1/rbm_stack-mirrored/autoencoder.pt", "stage1/rbm_stack-mirrored/codes.h5",
        *[f"stage1/rbm_stack/rbm{i}/{name}" for i in (1, 2) for name in ("rbm.pt", "curves.h5", "codes.h5")],
        *[f"stage2/rbm_stack-mirrored/{layer}/{name}" for layer in ("h16", "h16-h8")
          for name in ("prior.pt", "prior_curves.h5", "codes.h5")],
        *[f"{model}/{name}" for model in MODELS for name in ("model.pt", "curves.h5", "evaluation.h5", "metrics.csv")],
    ]:  # fmt: skip
        assert (smoke_run / path).stat().st_size > 0, path
    for log in (smoke_run / "logs").glob("*.log"):
        assert "finished" in log.read_text(), log
    assert len(list((smoke_run / "logs").glob("*.log"))) == 19
    assert not (smoke_run / ".state").exists() or not list((smoke_run / ".state").iterdir())


def test_data_and_codes_have_the_right_shapes_and_ranges(smoke_run):
    with h5py.File(smoke_run / "data" / "digits.h5") as f:
        shapes = {k: f[k].shape for k in ("x_train", "x_valid", "x_test")}
        assert shapes == {"x_train": (4600, 784), "x_valid": (200, 784), "x_test": (200, 784)}
        assert f["x_train"].dtype == np.uint8 and set(np.unique(f["x_test"][()])) == {0, 1}
    with h5py.File(smoke_run / "stage1" / "rbm_stack-mirrored" / "codes.h5") as f:
        assert f["z_train"].shape == (4600, 12) and set(np.unique(f["z_train"][()])) <= {0, 1}
        q = f["q_test"][()]
        assert q.min() >= 0 and q.max() <= 1


def test_every_artifact_records_its_provenance(smoke_run):
    for path in smoke_run.rglob("*.h5"):
        with h5py.File(path) as f:
            assert json.loads(f.attrs["config"])["seed"] == 7, path
            assert {"git_revision", "library_versions"} <= set(f.attrs), path
    for path in smoke_run.rglob("*.pt"):
        provenance = json.loads(load_checkpoint(path)["provenance"])
        assert json.loads(provenance["config"])["seed"] == 7 and provenance["git_revision"], path


def test_metrics_have_ais_with_band_beside_exact_log_z(smoke_run):
    rows = {model: pd.read_csv(smoke_run / model / "metrics.csv").iloc[0] for model in MODELS}
    for model in ("hybrid", "hybrid_deep", "hybrid_scratch", "rbm_pixels"):  # every RBM: prior, top of a DBN, pixels
        row = rows[model]
        assert row["log_z_low"] <= row["exact_log_z"] <= row["log_z_high"], model
        assert abs(row["test_ll"] - row["test_ll_exact_log_z"]) < 0.1, model
        assert row["test_ll_conservative"] < 0 and math.isfinite(row["test_ll_conservative_se"]), model
    for model, row in rows.items():
        assert -784 * math.log(2) < row["test_ll"] < 0 and 0 < row["test_ll_se"] < 10, model
        assert row["n_test"] == 200 and row["train_seconds"] > 0, model
    assert rows["hybrid"]["K"] == 50 and rows["iwae"]["estimator"] == "reparam"
    assert rows["rbm_pixels"]["n_params"] == 784 * 12 + 784 + 12
    with h5py.File(smoke_run / "hybrid" / "evaluation.h5") as f:
        assert f["ais_forward/log_weights"].shape == (50,)
        assert f["per_image_unnormalised_ll"].shape == (200,)


def test_checkpoints_rebuild_the_trained_models(smoke_run):
    saved = load_checkpoint(smoke_run / "hybrid" / "model.pt")
    spec = saved["model_args"]["spec"]
    assert spec["name"] == "hybrid" and saved["model"]["prior.top.W"].shape == (12, 16)
    assert saved["model_args"]["format"] == MODEL_FORMAT and spec["network"]["decoder"] == "mirrored"
    assert (spec["prior"], spec["network"]["n_latent"], spec["rbm_hidden"], tuple(spec["prior_upper"])) == (
        "rbm",
        12,
        16,
        (),
    )
    assert torch.isfinite(saved["model"]["prior.top.W"]).all()
    deep = load_checkpoint(smoke_run / "hybrid_deep" / "model.pt")
    assert (deep["model_args"]["spec"]["rbm_hidden"], tuple(deep["model_args"]["spec"]["prior_upper"])) == (16, (8,))
    assert deep["model"]["prior.top.W"].shape == (16, 8)
    assert deep["model"]["prior.generative.0.weight"].shape == (12, 16)
    layer_codes = smoke_run / "stage2" / "rbm_stack-mirrored" / "h16" / "codes.h5"
    with h5py.File(layer_codes) as f:  # layer 1's hidden units: layer 2's data
        assert f["z_train"].shape == (4600, 16) and set(np.unique(f["z_train"][()])) <= {0, 1}
    scratch = load_model(smoke_run / "hybrid_scratch" / "model.pt")
    assert scratch.spec.stage1 is False and scratch.spec.stage2 is False
    assert load_model(smoke_run / "rbm_pixels" / "model.pt").rbm.W.shape == (784, 12)


def test_figures_and_results_table(smoke_run):
    figures = smoke_run / "figures"
    for name in FIGURES:
        image = mpimg.imread(figures / name)
        assert image.shape[0] > 200 and image.shape[1] > 200 and image.std() > 0.01, name
    table = pd.read_csv(figures / "results.csv")
    assert set(table["model"][: len(MODELS)]) == set(MODELS)  # ours first, then the published rows
    assert table["source"].str.startswith("published").sum() >= 4
    markdown = (figures / "results.md").read_text()
    assert "hybrid" in markdown and "±" in markdown and "full MNIST" in markdown


def test_a_bad_data_file_stops_the_run_and_leaves_every_artifact_intact(smoke_run, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x_train=np.full((50, 16), 3.0), x_test=np.zeros((10, 16)))
    before = {p: p.read_bytes() for p in smoke_run.rglob("*") if p.is_file()}
    result = snakemake(
        "--cores", "1", "--configfile", "configs/smoke.yaml",
        "--config", f"outdir={smoke_run}", "dataset=file", f"data_path={bad}",
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{bad}: array 'x_train' has values in [3, 3]" in result.stderr
    after = {p: p.read_bytes() for p in smoke_run.rglob("*") if p.is_file() and p.suffix != ".log"}
    assert all(before[p] == content for p, content in after.items())
    assert set(after) == {p for p in before if p.suffix != ".log"}


def test_the_workflow_runs_on_the_users_own_file(tmp_path):
    """dataset=file: a small .npz of intensity images in [0, 1] goes through every rule."""
    rng = np.random.default_rng(0)
    prototypes = rng.random((4, 64)) < 0.4
    images = lambda n: np.clip(prototypes[rng.integers(0, 4, n)] * 0.9 + rng.random((n, 64)) * 0.1, 0, 1)  # noqa: E731
    data = tmp_path / "mine.npz"
    np.savez(data, x_train=images(400), x_test=images(100))
    out = tmp_path / "out"
    result = snakemake(
        "--cores", "2", "--configfile", "configs/smoke.yaml",
        "--config", f"outdir={out}", "dataset=file", f"data_path={data}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    with h5py.File(out / "data" / "file.h5") as f:
        assert f["x_train"].shape == (200, 64) and f["x_valid"].shape == (200, 64) and f["x_test"].shape == (100, 64)
        assert list(f.attrs["image_shape"]) == [8, 8]
    table = pd.read_csv(out / "figures" / "results.csv")
    assert np.isfinite(table["test_ll"][:5]).all() and (table["test_ll"][:5] > -64 * math.log(2)).all()


def test_every_training_log_shows_each_epochs_progress(smoke_run):
    """Each training stage logs every epoch: its losses, the elapsed time and the ETA; and its validation score on
    the epochs that score one (every valid_every epochs)."""
    progress = re.compile(r" epoch (\d+)/\d+ .*train_\w+=\S+ .*elapsed=[\d.]+s eta=[\d.]+s$", re.M)
    scored = re.compile(r" epoch \d+/\d+ .*valid_\w+=\S+ .*elapsed=", re.M)
    logs = [p for p in (smoke_run / "logs").glob("*.log") if p.stem.startswith(("pretrain_", "finetune_", "train_"))]
    assert len(logs) == 11  # 2 RBMs starting stage one, stage one, 2 prior layers, 5 fine-tunings, the pixel RBM
    for log in logs:
        text = log.read_text()
        assert progress.findall(text)[:2] == ["1", "2"] and scored.search(text), log.name
