"""The data stage: the shipped digits, the user's files, and the errors for bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from binlatent import stages
from binlatent.data import DataError, binarised_splits, digits_dataset, file_dataset, load_binarised
from binlatent.io import read_h5_attrs


def test_digits_are_5000_real_mnist_images_split_without_overlap():
    raw = digits_dataset(n_valid=1000, n_test=1000, seed=3)
    sizes = {s: len(x) for s, x in raw.images.items()}
    assert sizes == {"train": 3000, "valid": 1000, "test": 1000}
    assert all(x.shape[1] == 784 and 0 <= x.min() and x.max() <= 1 for x in raw.images.values())
    stacked = np.concatenate(list(raw.images.values()))
    assert len(np.unique(stacked, axis=0)) == 5000  # the splits are disjoint
    assert set(np.unique(raw.labels["test"])) == set(range(10))
    assert 0.1 < raw.images["train"].mean() < 0.2  # MNIST ink density, not noise


def test_binarisation_is_bernoulli_of_the_intensity_and_fixed_by_the_seed():
    raw = digits_dataset(1000, 1000, seed=3)
    a, b, c = binarised_splits(raw, 5), binarised_splits(raw, 5), binarised_splits(raw, 6)
    assert a["x_train"].dtype == np.uint8 and set(np.unique(a["x_train"])) == {0, 1}
    np.testing.assert_array_equal(a["x_train"], b["x_train"])
    assert (a["x_train"] != c["x_train"]).any()
    # the mean of the samples follows the intensities
    assert abs(a["x_train"].mean() - raw.images["train"].mean()) < 0.002


def write_user_file(path, x_train, x_test, x_valid=None):
    arrays = {"x_train": x_train, "x_test": x_test} | ({} if x_valid is None else {"x_valid": x_valid})
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_file_dataset_reads_binary_or_intensity_images(tmp_path, suffix):
    rng = np.random.default_rng(0)
    path = tmp_path / f"mine{suffix}"
    write_user_file(path, rng.random((300, 28, 28)), (rng.random((50, 784)) < 0.5).astype(np.uint8))
    raw = file_dataset(path, n_valid=40, seed=1)
    assert {s: x.shape for s, x in raw.images.items()} == {"train": (260, 784), "valid": (40, 784), "test": (50, 784)}
    assert raw.image_shape == (28, 28)
    splits = binarised_splits(raw, 1)
    np.testing.assert_array_equal(splits["x_test"], raw.images["test"])  # 0/1 input is kept exactly


def test_binarize_stage_writes_uint8_splits_with_provenance(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    write_user_file(path, rng.random((120, 64)), rng.random((30, 64)), rng.random((20, 64)))
    config = {"dataset": "file", "data_path": str(path), "seed": 4, "data": {"n_valid": 10, "n_test": 10}}
    out = tmp_path / "data.h5"
    stages.binarize(config, str(out))
    x = load_binarised(out)
    assert {k: v.shape for k, v in x.items()} == {"train": (120, 64), "valid": (20, 64), "test": (30, 64)}
    attrs = read_h5_attrs(out)
    assert attrs["seed"] == 4 and "torch" in attrs["library_versions"] and attrs["git_revision"]
    assert '"data_path"' in attrs["config"] and list(attrs["image_shape"]) == [8, 8]


BAD_FILES = {
    "missing file": (None, "data file not found"),
    "truncated archive": ("truncate", "cannot be read"),
    "missing x_test": ({"x_train": np.zeros((10, 4))}, "missing array 'x_test'"),
    "wrong rank": ({"x_train": np.zeros((10, 4, 4, 3, 2)), "x_test": np.zeros((5, 4))}, "has shape"),
    "values above 1": ({"x_train": np.full((10, 4), 255.0), "x_test": np.zeros((5, 4))}, "values in [255, 255]"),
    "NaN": ({"x_train": np.full((10, 4), np.nan), "x_test": np.zeros((5, 4))}, "NaN"),
    "empty split": ({"x_train": np.zeros((10, 4)), "x_test": np.zeros((0, 4))}, "is empty"),
    "mismatched sizes": ({"x_train": np.zeros((10, 4)), "x_test": np.zeros((5, 9))}, "different image sizes"),
}


@pytest.mark.parametrize("fault", BAD_FILES)
def test_bad_files_stop_with_a_message_naming_file_array_and_problem(tmp_path, fault):
    content, message = BAD_FILES[fault]
    path = tmp_path / "bad.npz"
    if isinstance(content, dict):
        np.savez(path, **content)
    elif content == "truncate":
        np.savez(path, x_train=np.zeros((100, 4)), x_test=np.zeros((10, 4)))
        path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match="bad.npz") as err:
        file_dataset(path, n_valid=2, seed=0)
    assert message in str(err.value)
