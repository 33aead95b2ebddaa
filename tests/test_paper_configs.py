"""The paper-scale configs (MNIST, CIFAR-10) and the natural-scene config (patches): their full DAGs plan, and
each runs end to end with every size made tiny (tests/configs/tiny.yaml), on small files in the real formats."""

from __future__ import annotations

import math
import re

import h5py
import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from helpers import REPO, snakemake, write_cifar10_batches, write_mnist_raw

pytestmark = pytest.mark.workflow

TINY = "tests/configs/tiny.yaml"
JOBS = {"mnist": 21, "cifar10": 9, "patches": 9}  # 6 models with the RBM stacks; the hybrid and factorised prior


@pytest.mark.parametrize("name", list(JOBS))
def test_each_config_plans_its_whole_dag_with_resources_for_a_cluster(name):
    result = snakemake("-n", "--configfile", f"configs/{name}.yaml")
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(rf"^total\s+{JOBS[name]}$", result.stdout, re.M), result.stdout[-2000:]
    config = (REPO / "configs" / f"{name}.yaml").read_text()
    assert "resources:" in config and "finetune: {threads:" in config


def run_tiny(name: str, tmp_path, *settings: str) -> tuple:
    """Run configs/<name>.yaml with tiny sizes into tmp_path/out; the output folder and the results table."""
    out = tmp_path / "out"
    result = snakemake(
        "--cores", "2", "--configfile", f"configs/{name}.yaml", TINY, "--config", f"outdir={out}", *settings,
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return out, pd.read_csv(out / "figures" / "results.csv")


def test_mnist_config_runs_end_to_end_on_torchvision_raw_files(tmp_path):
    written = write_mnist_raw(tmp_path / "mnist", n_train=100, n_test=30, seed=0)
    out, table = run_tiny("mnist", tmp_path, f"data_path={tmp_path / 'mnist'}")
    with h5py.File(out / "data" / "mnist.h5") as f:
        assert {s: f[f"x_{s}"].shape for s in ("train", "valid", "test")} == {
            "train": (80, 784), "valid": (20, 784), "test": (20, 784)
        }  # fmt: skip
        assert f.attrs["pixels"] == "binary" and set(np.unique(f["x_test"][()])) <= {0, 1}
        # stochastic binarisation of the written test digits: ink where the intensity is high
        intensity = written["test"][0][:20].reshape(20, 784) / 255
        assert f["x_test"][()][intensity > 0.95].mean() > 0.9 and f["x_test"][()][intensity < 0.05].mean() < 0.1
    ours = table[table["source"] == "this workflow"]
    # random intensities: about 784 ln 2 nats of noise per image, which one tiny epoch cannot beat by much
    assert len(ours) == 6 and ours["test_ll"].between(-2 * 784 * math.log(2), 0).all()
    assert table["source"].str.contains("full MNIST").any()


def test_cifar10_config_runs_end_to_end_on_python_batches_in_bits_per_dim(tmp_path):
    write_cifar10_batches(tmp_path / "cifar", n_per_batch=20, n_test=30, seed=0)
    out, table = run_tiny("cifar10", tmp_path, f"data_path={tmp_path / 'cifar'}")
    with h5py.File(out / "data" / "cifar10.h5") as f:
        assert f.attrs["pixels"] == "8bit" and list(f.attrs["image_shape"]) == [32, 32, 3]
        assert f["x_train"].shape == (80, 3072) and f["x_test"].shape == (20, 3072)
    assert_bits_per_dim(out, table)


def test_patches_config_runs_end_to_end_with_colour_samples(tmp_path):
    out, table = run_tiny("patches", tmp_path)
    with h5py.File(out / "data" / "patches.h5") as f:
        assert f.attrs["pixels"] == "8bit" and list(f.attrs["image_shape"]) == [32, 32, 3]
    assert_bits_per_dim(out, table)


def assert_bits_per_dim(out, table: pd.DataFrame) -> None:
    """The hybrid and the factorised baseline have bits/dim with standard errors beside published CIFAR-10 rows,
    and the sample figure is in colour."""
    ours = table[table["source"] == "this workflow"].set_index("model")
    assert list(ours.index) == ["hybrid", "factorised"]
    d = 32 * 32 * 3
    np.testing.assert_allclose(ours["test_bpd"], -ours["test_ll"] / (d * math.log(2)))
    assert (ours["test_bpd"] > 0).all() and (ours["test_bpd_se"] > 0).all()
    assert np.isfinite(ours.loc["hybrid", "test_bpd_conservative"])
    assert table["source"].str.contains("CIFAR-10").sum() >= 4
    assert "bits/dim" in (out / "figures" / "results.md").read_text()
    samples = mpimg.imread(out / "figures" / "samples.png")[..., :3]
    assert np.abs(samples[..., 0] - samples[..., 2]).max() > 0.05  # colour, not grey
