"""The data stage: the shipped digits, the user's files, scikit-learn's photographs, MNIST and CIFAR-10 in their
real formats, and the errors for bad files and configs."""

from __future__ import annotations

import pickle
import re

import h5py
import numpy as np
import pytest
from helpers import validated_config, write_binarized_mnist_amat, write_cifar10_batches, write_mnist_raw

from binlatent import stages
from binlatent.datasets import DataError, image_shape, load_splits, pixel_kind, prepared_splits
from binlatent.datasets.digits import digits_dataset
from binlatent.datasets.file import file_dataset
from binlatent.datasets.loaders import load_dataset
from binlatent.datasets.mnist import FIXED_MNIST_URL
from binlatent.datasets.patches import PATCHES_N_TRAIN, patch_boxes, patches_dataset, sample_photographs
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
    a, b, c = prepared_splits(raw, 5), prepared_splits(raw, 5), prepared_splits(raw, 6)
    assert a["x_train"].dtype == np.uint8 and set(np.unique(a["x_train"])) == {0, 1}
    np.testing.assert_array_equal(a["x_train"], b["x_train"])
    assert (a["x_train"] != c["x_train"]).any()
    # the mean of the samples follows the intensities
    assert abs(a["x_train"].mean() - raw.images["train"].mean()) < 0.002


def write_arrays(path, arrays):
    """Each array under its name, in a .npz for that suffix, else in an HDF5 file."""
    if path.suffix == ".npz":
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v


def write_user_file(path, x_train, x_test, x_valid=None):
    write_arrays(path, {"x_train": x_train, "x_test": x_test} | ({} if x_valid is None else {"x_valid": x_valid}))


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_file_dataset_reads_binary_or_intensity_images(tmp_path, suffix):
    rng = np.random.default_rng(0)
    path = tmp_path / f"mine{suffix}"
    write_user_file(path, rng.random((300, 28, 28)), (rng.random((50, 784)) < 0.5).astype(np.uint8))
    raw = file_dataset(path, n_valid=40, seed=1)
    assert {s: x.shape for s, x in raw.images.items()} == {"train": (260, 784), "valid": (40, 784), "test": (50, 784)}
    assert raw.image_shape == (28, 28)
    splits = prepared_splits(raw, 1)
    np.testing.assert_array_equal(splits["x_test"], raw.images["test"])  # 0/1 input is kept exactly


def test_binarize_stage_writes_uint8_splits_with_provenance(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    write_user_file(path, rng.random((120, 64)), rng.random((30, 64)), rng.random((20, 64)))
    config = validated_config(dataset="file", data_path=str(path), seed=4, data={"n_valid": 10, "n_test": 10})
    out = tmp_path / "data.h5"
    stages.binarize(config, data=str(out), threads=1)
    x = load_splits(out)
    assert {k: v.shape for k, v in x.items()} == {"train": (120, 64), "valid": (20, 64), "test": (30, 64)}
    attrs = read_h5_attrs(out)
    assert attrs["seed"] == 4 and "torch" in attrs["library_versions"] and attrs["git_revision"]
    assert '"data_path"' in attrs["config"] and list(attrs["image_shape"]) == [8, 8] and attrs["pixels"] == "binary"


BAD_FILES = {
    "missing file": (None, "data file not found"),
    "truncated archive": ("truncate", "cannot be read"),
    "missing x_test": ({"x_train": np.zeros((10, 4))}, "missing array 'x_test'"),
    "wrong rank": ({"x_train": np.zeros((10, 4, 4, 3, 2)), "x_test": np.zeros((5, 4))}, "has shape"),
    "values above 1": ({"x_train": np.full((10, 4), 255.0), "x_test": np.zeros((5, 4))}, "values in [255, 255]"),
    "NaN": ({"x_train": np.full((10, 4), np.nan), "x_test": np.zeros((5, 4))}, "NaN"),
    "empty split": ({"x_train": np.zeros((10, 4)), "x_test": np.zeros((0, 4))}, "is empty"),
    "mismatched sizes": ({"x_train": np.zeros((10, 4)), "x_test": np.zeros((5, 9))}, "different image sizes"),
    "4-D array not uint8": (
        {"x_train": np.zeros((10, 4, 4, 3)), "x_test": np.zeros((5, 4, 4, 3))},
        "array 'x_train' has shape (10, 4, 4, 3) and dtype float64; a 4-D array holds 8-bit images (N, H, W, C) and "
        "must be uint8",
    ),
    "8-bit and binary splits mixed": (
        {"x_train": np.zeros((10, 4, 4, 3), np.uint8), "x_test": np.zeros((5, 48))},
        "arrays mix 8-bit images (N, H, W, C) and binary/[0, 1] images {'x_train': '8bit', 'x_test': 'binary'}",
    ),
    "8-bit splits of different shapes": (
        {"x_train": np.zeros((10, 4, 4, 3), np.uint8), "x_test": np.zeros((5, 4, 3, 4), np.uint8)},
        "different image sizes",
    ),
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


def refused(path, message: str):
    """pytest.raises for a DataError whose whole message starts with the file's path and then `message` (a regex)."""
    return pytest.raises(DataError, match=rf"^{re.escape(str(path))}: {message}")


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
@pytest.mark.parametrize(
    ("name", "empty", "problem"),
    [
        ("x_train", np.zeros((10, 0)), r"has shape \(10, 0\): 0 pixels per image; store the images' pixels as"),
        ("x_valid", np.zeros((4, 0, 3)), r"has shape \(4, 0, 3\): 0 pixels per image; store the images' pixels as"),
        ("x_test", np.zeros((5, 3, 3, 0), np.uint8), r"has shape \(5, 3, 3, 0\): 0 pixels per image; store"),
        ("x_test", np.zeros((0, 9)), r"is empty \(0 images\); store at least one image in each x_ array"),
        ("x_valid", np.zeros((0, 3, 3)), r"is empty \(0 images\); store at least one image in each x_ array"),
    ],
    ids=["x_train (N, 0)", "x_valid (N, 0, W)", "x_test uint8 (N, H, W, 0)", "x_test 0 images", "x_valid 0 images"],
)
def test_a_split_of_images_without_pixels_or_without_images_is_refused_by_name(tmp_path, suffix, name, empty, problem):
    path = tmp_path / f"bad{suffix}"
    write_arrays(path, {"x_train": np.zeros((10, 9)), "x_test": np.zeros((5, 9)), name: empty})
    with refused(path, f"array '{name}' {problem}"):
        file_dataset(path, n_valid=2, seed=0)


def test_an_hdf5_group_under_an_array_name_is_refused_by_name(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["x_train/images"] = np.zeros((10, 9))
        f["x_test"] = np.zeros((5, 9))
    with refused(
        path, r"'x_train' is an HDF5 group, not a dataset \(it holds: images\); store the array itself under 'x_train'"
    ):
        file_dataset(path, n_valid=2, seed=0)


OBJECTS = np.array([np.zeros(3), np.zeros(4)], dtype=object)  # images of two sizes: only pickle can store them


@pytest.fixture
def no_unpickling(monkeypatch):
    """Any pickle.load (how numpy reads an object array) fails the test."""

    def unpickle(*args, **kwargs):
        raise AssertionError("a data file was unpickled")

    monkeypatch.setattr(pickle, "load", unpickle)


@pytest.mark.parametrize("name", ["x_train", "x_valid", "x_test", "y_train"])
def test_an_object_array_the_loader_reads_is_refused_by_name_without_unpickling(tmp_path, no_unpickling, name):
    path = tmp_path / "bad.npz"
    np.savez(path, **{"x_train": np.zeros((10, 9)), "x_test": np.zeros((5, 9)), name: OBJECTS})
    with refused(path, f"array '{name}' has dtype object: Python objects that only pickle can read .*; store it as"):
        file_dataset(path, n_valid=2, seed=0)


def test_extra_arrays_of_numbers_strings_or_objects_are_skipped_unread(tmp_path, no_unpickling):
    path = tmp_path / "mine.npz"
    labels = np.arange(10) % 3
    extras = {"labels": labels, "name": np.array("my digits"), "tags": np.array([b"a", b"b"]), "meta": OBJECTS}
    np.savez(path, x_train=np.full((10, 9), 0.5), x_test=np.zeros((5, 9)), y_train=labels, **extras)
    raw = file_dataset(path, n_valid=2, seed=0)
    assert {s: x.shape for s, x in raw.images.items()} == {"train": (8, 9), "valid": (2, 9), "test": (5, 9)}
    assert sorted(np.concatenate([raw.labels["train"], raw.labels["valid"]])) == sorted(labels)


def test_a_directory_as_data_path_asks_for_the_file_in_it(tmp_path):
    write_user_file(tmp_path / "mine.npz", np.zeros((10, 9)), np.zeros((5, 9)))
    (tmp_path / "notes.txt").write_text("")
    with refused(
        tmp_path,
        r"data_path is a directory; give the \.npz or \.h5 file itself \(suffix \.npz, \.h5 or \.hdf5; found there: "
        r"mine\.npz\)$",
    ):
        file_dataset(tmp_path, n_valid=2, seed=0)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_float_images_with_one_trailing_channel_are_read_as_grey_images(tmp_path, suffix):
    rng = np.random.default_rng(0)
    x_train, x_test = rng.random((30, 6, 5)), (rng.random((8, 6, 5)) < 0.5).astype(np.float32)
    grey, with_channel = tmp_path / f"grey{suffix}", tmp_path / f"with_channel{suffix}"
    write_user_file(grey, x_train, x_test)
    write_user_file(with_channel, x_train[..., None], x_test[..., None])
    expected, raw = file_dataset(grey, n_valid=5, seed=1), file_dataset(with_channel, n_valid=5, seed=1)
    assert raw.pixels == "binary" and raw.image_shape == (6, 5)
    for split, x in expected.images.items():
        np.testing.assert_array_equal(raw.images[split], x)
    write_user_file(with_channel, np.zeros((30, 6, 5, 1), np.uint8), np.zeros((8, 6, 5, 1), np.uint8))
    kept = file_dataset(with_channel, n_valid=5, seed=1)  # uint8 (N, H, W, 1) stays 8-bit, as before
    assert kept.pixels == "8bit" and kept.image_shape == (6, 5, 1)


def test_8bit_file_images_are_kept_exactly_by_the_binarize_stage(tmp_path):
    rng = np.random.default_rng(0)
    x_train, x_test = (rng.integers(0, 256, (n, 6, 5, 3), dtype=np.uint8) for n in (40, 12))
    path = tmp_path / "colour.npz"
    np.savez(path, x_train=x_train, x_test=x_test)
    out = tmp_path / "data.h5"
    stages.binarize(
        validated_config(dataset="file", data_path=str(path), seed=2, data={"n_valid": 8}), data=str(out), threads=1
    )
    assert pixel_kind(out) == "8bit" and image_shape(out) == (6, 5, 3)
    with h5py.File(out) as f:
        assert f["x_train"].dtype == np.uint8
    x = load_splits(out)
    assert {s: (v.shape, v.dtype) for s, v in x.items()} == {
        "train": ((32, 90), np.float32),
        "valid": ((8, 90), np.float32),
        "test": ((12, 90), np.float32),
    }
    np.testing.assert_array_equal(x["test"].reshape(12, 6, 5, 3), x_test)  # HWC order, 0..255 kept
    held_out = np.concatenate([x["train"], x["valid"]]).astype(np.uint8).reshape(40, 6, 5, 3)
    assert sorted(map(bytes, held_out)) == sorted(map(bytes, x_train))  # train and valid split x_train


# --- patches of scikit-learn's photographs ---------------------------------------------------------------------------

PHOTOS = (2, 427, 640)  # two photographs of 427 x 640 pixels


def overlapping(a: np.ndarray, b: np.ndarray, size: int) -> np.ndarray:
    """Whether each (image, top, left) box of `a` shares a pixel with a box of `b`, boxes of size x size: (len(a),)."""
    same_image = a[:, None, 0] == b[None, :, 0]
    near = (np.abs(a[:, None, 1:] - b[None, :, 1:]) < size).all(axis=2)
    return (same_image & near).any(axis=1)


@pytest.mark.parametrize(("patch_size", "seed"), [(32, 0), (16, 1), (50, 2)])
def test_patch_crops_of_each_split_come_from_regions_no_other_split_touches(patch_size, seed):
    boxes = patch_boxes(PHOTOS, patch_size, {"train": 2000, "valid": 300, "test": 500}, seed)
    assert {s: b.shape for s, b in boxes.items()} == {"train": (2000, 3), "valid": (300, 3), "test": (500, 3)}
    for b in boxes.values():  # every crop lies inside a photograph
        assert (b >= 0).all() and (b[:, 1] + patch_size <= 427).all() and (b[:, 2] + patch_size <= 640).all()
        assert set(np.unique(b[:, 0])) == {0, 1}
    assert not overlapping(boxes["test"], boxes["train"], patch_size).any()
    assert not overlapping(boxes["test"], boxes["valid"], patch_size).any()
    assert not overlapping(boxes["valid"], boxes["train"], patch_size).any()
    assert overlapping(boxes["train"][:500], boxes["train"][500:], patch_size).any()  # the check can see overlaps


def test_more_training_crops_leave_the_valid_and_test_crops_alone():
    few, many = (patch_boxes(PHOTOS, 32, {"train": n, "valid": 50, "test": 80}, 0) for n in (100, 900))
    for split in ("valid", "test"):
        np.testing.assert_array_equal(few[split], many[split])


def test_patches_are_8bit_colour_crops_of_the_photographs_fixed_by_the_seed():
    counts = {"train": 600, "valid": 100, "test": 200}
    raw = patches_dataset(32, *counts.values(), seed=3)
    assert raw.pixels == "8bit" and raw.image_shape == (32, 32, 3) and raw.labels == {}
    assert {s: (x.shape, x.dtype) for s, x in raw.images.items()} == {
        s: ((n, 3072), np.uint8) for s, n in counts.items()
    }
    photos, names = sample_photographs()
    assert photos.shape == (*PHOTOS, 3) and names == ["china.jpg", "flower.jpg"]
    assert all(name in raw.source for name in names)
    boxes = patch_boxes(PHOTOS, 32, counts, seed=3)
    for split, i in [("train", 0), ("train", 599), ("valid", 50), ("test", 7), ("test", 199)]:
        image, top, left = boxes[split][i]
        crop = photos[image, top : top + 32, left : left + 32]
        np.testing.assert_array_equal(raw.images[split][i].reshape(32, 32, 3), crop)
    assert raw.images["train"].std(axis=1).mean() > 15  # natural texture, not flat colour
    np.testing.assert_array_equal(patches_dataset(32, *counts.values(), seed=3).images["train"], raw.images["train"])
    assert (patches_dataset(32, *counts.values(), seed=4).images["test"] != raw.images["test"]).any()


def test_binarize_stage_writes_patches_as_8bit_with_their_source(tmp_path):
    out = tmp_path / "patches.h5"
    stages.binarize(
        validated_config(dataset="patches", data={"patch_size": 16, "n_valid": 50, "n_test": 80}),
        data=str(out),
        threads=1,
    )
    attrs = read_h5_attrs(out)
    assert attrs["pixels"] == "8bit" and list(attrs["image_shape"]) == [16, 16, 3] and "china.jpg" in attrs["source"]
    x = load_splits(out)
    assert {s: v.shape for s, v in x.items()} == {
        "train": (PATCHES_N_TRAIN, 768),  # data.n_train 0: the default number of crops
        "valid": (50, 768),
        "test": (80, 768),
    }
    assert len(np.unique(x["test"])) > 100  # grey levels kept, not binarised


def test_a_patch_size_too_large_for_three_splits_is_a_data_error():
    with pytest.raises(
        DataError, match="data.patch_size = 200 cuts the photographs into 2 blocks of 400 pixels a side"
    ):
        patch_boxes(PHOTOS, 200, {"train": 10, "valid": 10, "test": 10}, 0)


# --- MNIST through torchvision, and its fixed binarisation -----------------------------------------------------------


def mnist_config(root, **data) -> dict:
    return validated_config(dataset="mnist", data_path=str(root), seed=5, data={"n_valid": 10, "n_test": 15, **data})


def pairs(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """Each uint8 image with its label, as bytes, sorted: the same images and labels in any order compare equal."""
    return sorted(bytes(x) + bytes([int(y)]) for x, y in zip(images.reshape(len(images), -1), labels, strict=True))


def test_mnist_is_read_from_torchvisions_raw_files_and_binarised_by_the_seed(tmp_path):
    written = write_mnist_raw(tmp_path, n_train=60, n_test=20, seed=0)
    raw = load_dataset(mnist_config(tmp_path))
    assert raw.pixels == "binary" and raw.image_shape == (28, 28)
    assert {s: x.shape for s, x in raw.images.items()} == {"train": (50, 784), "valid": (10, 784), "test": (15, 784)}
    grey = {s: np.rint(x * 255).astype(np.uint8) for s, x in raw.images.items()}  # intensities in [0, 1]
    test_images, test_labels = written["test"]
    np.testing.assert_array_equal(grey["test"], test_images[:15].reshape(15, 784))  # the first n_test, in order
    np.testing.assert_array_equal(raw.labels["test"], test_labels[:15])
    held_out = pairs(
        np.concatenate([grey["train"], grey["valid"]]), np.concatenate([raw.labels["train"], raw.labels["valid"]])
    )
    assert held_out == pairs(*written["train"])  # train and valid split the official train set
    splits = prepared_splits(raw, 5)
    assert set(np.unique(splits["x_train"])) == {0, 1}
    assert abs(splits["x_train"].mean() - raw.images["train"].mean()) < 0.01
    assert (prepared_splits(raw, 6)["x_train"] != splits["x_train"]).any()  # stochastic: another seed, other pixels


def test_n_train_takes_the_first_training_images_and_no_more_than_there_are(tmp_path):
    write_mnist_raw(tmp_path, n_train=60, n_test=20, seed=0)
    full, capped = load_dataset(mnist_config(tmp_path)), load_dataset(mnist_config(tmp_path, n_train=20))
    np.testing.assert_array_equal(capped.images["train"], full.images["train"][:20])
    np.testing.assert_array_equal(capped.labels["train"], full.labels["train"][:20])
    np.testing.assert_array_equal(capped.images["valid"], full.images["valid"])
    with pytest.raises(DataError, match="train has 50 images, fewer than data.n_train = 51; lower data.n_train"):
        load_dataset(mnist_config(tmp_path, n_train=51))


def test_mnist_fixed_binarisation_is_the_amat_files_whatever_the_seed(tmp_path):
    written = write_binarized_mnist_amat(tmp_path, n_train=30, n_valid=12, n_test=20, seed=0)
    raw = load_dataset(mnist_config(tmp_path, binarisation="fixed"))
    assert raw.pixels == "binary" and raw.image_shape == (28, 28)
    for seed in (5, 6):
        splits = prepared_splits(raw, seed)
        np.testing.assert_array_equal(splits["x_train"], written["train"])
        np.testing.assert_array_equal(splits["x_valid"], written["valid"][:10])
        np.testing.assert_array_equal(splits["x_test"], written["test"][:15])


def test_a_missing_fixed_binarisation_file_is_named_with_where_it_comes_from(tmp_path):
    write_binarized_mnist_amat(tmp_path, n_train=30, n_valid=12, n_test=20, seed=0)
    (tmp_path / "binarized_mnist_valid.amat").unlink()
    with pytest.raises(DataError) as err:
        load_dataset(mnist_config(tmp_path, binarisation="fixed"))
    assert f"{tmp_path / 'binarized_mnist_valid.amat'}: not found" in str(err.value)
    assert FIXED_MNIST_URL in str(err.value) and "data.binarisation: stochastic" in str(err.value)


def test_a_damaged_mnist_file_names_the_directory(tmp_path):
    write_mnist_raw(tmp_path, n_train=60, n_test=20, seed=0)
    images = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    with pytest.raises(DataError, match=f"{tmp_path}: torchvision cannot read or download the MNIST train set"):
        load_dataset(mnist_config(tmp_path))


# --- CIFAR-10 through torchvision ------------------------------------------------------------------------------------


def cifar10_config(root) -> dict:
    return validated_config(dataset="cifar10", data_path=str(root), seed=5, data={"n_valid": 5, "n_test": 4})


def test_cifar10_is_read_from_the_python_batches_as_8bit_hwc_images(tmp_path):
    written = write_cifar10_batches(tmp_path, n_per_batch=6, n_test=8, seed=0)
    raw = load_dataset(cifar10_config(tmp_path))
    assert raw.pixels == "8bit" and raw.image_shape == (32, 32, 3)
    assert {s: (x.shape, x.dtype) for s, x in raw.images.items()} == {
        "train": ((25, 3072), np.uint8),
        "valid": ((5, 3072), np.uint8),
        "test": ((4, 3072), np.uint8),
    }
    planes, labels = written["test_batch"]  # rows of red, green and blue 32x32 planes
    hwc = planes[:4].reshape(4, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(raw.images["test"].reshape(4, 32, 32, 3), hwc)
    np.testing.assert_array_equal(raw.labels["test"], labels[:4])
    batches = [written[f"data_batch_{i}"] for i in range(1, 6)]
    official = [np.concatenate([b[k] for b in batches]) for k in (0, 1)]
    official[0] = official[0].reshape(30, 3, 32, 32).transpose(0, 2, 3, 1)
    held_out = [np.concatenate([getattr(raw, k)[s] for s in ("train", "valid")]) for k in ("images", "labels")]
    assert pairs(*held_out) == pairs(*official)
    np.testing.assert_array_equal(prepared_splits(raw, 5)["x_valid"], raw.images["valid"])  # kept exactly


DAMAGED_BATCHES = {
    "truncated pickle": (lambda path: path.write_bytes(path.read_bytes()[:500]), "cannot be read as a CIFAR-10 batch"),
    "wrong-shaped data": (
        lambda path: path.write_bytes(pickle.dumps({"data": np.zeros((6, 3000), np.uint8), "labels": [0] * 6})),
        "holds data uint8 (6, 3000) and 6 labels; expected uint8 (n, 3072), n labels",
    ),
}


@pytest.mark.parametrize("damage", DAMAGED_BATCHES)
def test_a_damaged_cifar10_batch_is_named(tmp_path, damage):
    write_cifar10_batches(tmp_path, n_per_batch=6, n_test=8, seed=0)
    damage_file, message = DAMAGED_BATCHES[damage]
    path = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    damage_file(path)
    with pytest.raises(DataError) as err:
        load_dataset(cifar10_config(tmp_path))
    assert str(err.value).startswith(f"{path}: {message}") and "delete" in str(err.value)


BAD_CONFIGS = {
    "mnist without data_path": ({"dataset": "mnist"}, "config: dataset is 'mnist' but data_path is empty"),
    "cifar10 without data_path": ({"dataset": "cifar10"}, "config: dataset is 'cifar10' but data_path is empty"),
    "file without data_path": ({"dataset": "file"}, "config: dataset is 'file' but data_path is empty"),
    "fixed binarisation of digits": ({"data": {"binarisation": "fixed"}}, "but dataset is 'digits'"),
    "fixed binarisation of cifar10": (
        {"dataset": "cifar10", "data_path": "cifar", "data": {"binarisation": "fixed"}},
        "config: data.binarisation 'fixed' is the standard fixed binarisation of MNIST, but dataset is 'cifar10'; "
        "use dataset 'mnist' or data.binarisation 'stochastic'",
    ),
    "fixed binarisation of patches": ({"dataset": "patches", "data": {"binarisation": "fixed"}}, "'patches'"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_a_config_the_data_stage_cannot_serve_stops_with_the_key_and_the_fix(case):
    keys, message = BAD_CONFIGS[case]
    with pytest.raises(DataError) as err:
        load_dataset(validated_config(**keys))
    assert message in str(err.value)
