"""Image sets beyond the shipped digits: crops of scikit-learn's two photographs, MNIST and CIFAR-10.

patches needs no download; torchvision reads mnist and cifar10 from data_path, downloading them there when absent.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
from sklearn.datasets import load_sample_images
from torchvision.datasets import CIFAR10, MNIST

from binlatent.data import SPLITS, DataError, RawDataset, first_rows, hold_out

PATCHES_N_TRAIN = 6000  # training crops drawn when data.n_train is 0
BLOCK_SIDE = 2  # the photographs are cut into square blocks of BLOCK_SIDE * patch_size pixels
BLOCK_SHARES = {"valid": 0.1, "test": 0.2}  # of the blocks; train takes the rest
FIXED_MNIST_URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/"
CIFAR10_FILES = [name for name, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]

# --- patches: crops of natural photographs, from disjoint regions per split ------------------------------------------


def sample_photographs() -> tuple[np.ndarray, list[str]]:
    """scikit-learn's two sample photographs as uint8 (2, 427, 640, 3), and their file names."""
    bunch = load_sample_images()
    return np.stack(bunch.images), [Path(f).name for f in bunch.filenames]


def photo_blocks(photos_shape: tuple[int, int, int], side: int) -> np.ndarray:
    """(image, top, left) of the side x side blocks tiling n photographs (n, H, W) from the top left: (n_blocks, 3)."""
    n, h, w = photos_shape
    grid = np.meshgrid(np.arange(n), np.arange(h // side) * side, np.arange(w // side) * side, indexing="ij")
    return np.stack([g.ravel() for g in grid], axis=1)


def block_counts(n_blocks: int, patch_size: int) -> dict[str, int]:
    """Blocks per split: BLOCK_SHARES of n_blocks for valid and test (at least one each), the rest for train."""
    held = {s: max(1, round(share * n_blocks)) for s, share in BLOCK_SHARES.items()}
    if n_blocks - sum(held.values()) < 1:
        raise DataError(
            f"config: data.patch_size = {patch_size} cuts the photographs into {n_blocks} blocks of "
            f"{BLOCK_SIDE * patch_size} pixels a side, fewer than the 3 splits need; lower data.patch_size"
        )
    return {"train": n_blocks - sum(held.values()), **held}


def _crops_in(blocks: np.ndarray, n: int, side: int, patch_size: int, rng: np.random.Generator) -> np.ndarray:
    """(image, top, left) of n crops at uniform positions inside blocks drawn uniformly from `blocks`: (n, 3)."""
    corners = blocks[rng.integers(0, len(blocks), n)]  # (n, 3)
    shifts = rng.integers(0, side - patch_size + 1, (n, 2))  # (n, 2): rows and columns inside the block
    return corners + np.pad(shifts, ((0, 0), (1, 0)))


def patch_boxes(
    photos_shape: tuple[int, int, int], patch_size: int, counts: dict[str, int], seed: int
) -> dict[str, np.ndarray]:
    """(image, top, left) of counts[split] crops per split, each inside one block of its split.

    The blocks are dealt to the splits by the seed, so the splits' crops cover disjoint regions: no test pixel is
    seen in training. Each split draws from its own stream, so changing one count leaves the others' crops alone.
    """
    side = BLOCK_SIDE * patch_size
    blocks = photo_blocks(photos_shape, side)
    blocks = blocks[np.random.default_rng(seed).permutation(len(blocks))]
    sizes = block_counts(len(blocks), patch_size)
    own = np.split(blocks, np.cumsum([sizes[s] for s in SPLITS])[:-1])
    return {
        split: _crops_in(own[i], counts[split], side, patch_size, np.random.default_rng([seed, i]))
        for i, split in enumerate(SPLITS)
    }


def cut_patches(photos: np.ndarray, boxes: np.ndarray, patch_size: int) -> np.ndarray:
    """The crops of photos (k, H, W, C) at boxes (n, 3) of (image, top, left): (n, patch_size, patch_size, C)."""
    span = np.arange(patch_size)
    rows = boxes[:, 1, None] + span  # (n, patch_size)
    cols = boxes[:, 2, None] + span  # (n, patch_size)
    return photos[boxes[:, 0, None, None], rows[:, :, None], cols[:, None, :]]


def patches_dataset(patch_size: int, n_train: int, n_valid: int, n_test: int, seed: int) -> RawDataset:
    """8-bit colour crops of patch_size pixels a side from scikit-learn's photographs; n_train 0: PATCHES_N_TRAIN."""
    photos, names = sample_photographs()
    counts = {"train": n_train or PATCHES_N_TRAIN, "valid": n_valid, "test": n_test}
    boxes = patch_boxes(photos.shape[:3], patch_size, counts, seed)
    images = {s: cut_patches(photos, b, patch_size).reshape(len(b), -1) for s, b in boxes.items()}
    source = f"scikit-learn sample images {' and '.join(names)}: {patch_size}x{patch_size} crops"
    return RawDataset(images, {}, (patch_size, patch_size, photos.shape[3]), source, "8bit")


# --- MNIST and CIFAR-10 through torchvision --------------------------------------------------------------------------


class _PresentCIFAR10(CIFAR10):
    """torchvision's CIFAR-10 reader that only checks that the files exist, not their MD5 sums."""

    train_list = [[name, None] for name, _ in CIFAR10.train_list]
    test_list = [[name, None] for name, _ in CIFAR10.test_list]
    meta = {**CIFAR10.meta, "md5": None}


def _official_set(reader: type, root: Path, train: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
    """One official set read by a torchvision dataset class, downloaded into root when absent: uint8 images, labels."""
    which = "train" if train else "test"
    try:
        found = reader(root, train=train, download=True)
    except Exception as err:  # noqa: BLE001 - torchvision raises many types for damaged or undownloadable files
        raise DataError(
            f"{root}: torchvision cannot read or download the {name} {which} set ({err!r}); delete damaged files "
            f"there to download them again, or copy {name} there from a machine that can download it"
        ) from err
    images, labels = np.asarray(found.data), np.asarray(found.targets, dtype=np.int64)
    if len(images) != len(labels):
        raise DataError(f"{root}: the {name} {which} set has {len(images)} images but {len(labels)} labels")
    return images, labels


def _official_splits(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    n_valid: int,
    n_test: int,
    seed: int,
    source: str,
    pixels: str,
) -> RawDataset:
    """The official train set less n_valid images held out by the seed, and the first n_test official test images."""
    (x, y), (x_test, y_test) = train, test
    valid, rest = hold_out(len(x), n_valid, seed, f"{source}: the official train set")
    x_test = first_rows(x_test, n_test, "n_test", f"{source}: the official test set")
    images = {"train": x[rest], "valid": x[valid], "test": x_test}
    labels = {"train": y[rest], "valid": y[valid], "test": y_test[:n_test]}
    flat = {s: v.reshape(len(v), -1) for s, v in images.items()}
    if pixels == "binary":
        flat = {s: v / 255.0 for s, v in flat.items()}  # intensities in [0, 1]
    return RawDataset(flat, labels, x.shape[1:], source, pixels)


def _read_amat(path: Path) -> np.ndarray:
    """One file of MNIST's fixed binarisation: one image a line, 784 space-separated 0/1 values; uint8 (n, 784)."""
    if not path.is_file():
        raise DataError(
            f"{path}: not found; data.binarisation 'fixed' reads the standard fixed binarisation of MNIST "
            "(Larochelle & Murray, 2011): put binarized_mnist_train.amat, binarized_mnist_valid.amat and "
            f"binarized_mnist_test.amat from {FIXED_MNIST_URL} in data_path, or set data.binarisation: stochastic"
        )
    try:
        x = np.loadtxt(path, dtype=np.uint8, ndmin=2)
    except ValueError as err:
        raise DataError(f"{path}: cannot be read as lines of 784 space-separated 0/1 values ({err})") from err
    if x.shape[1] != 784 or x.max() > 1:
        raise DataError(f"{path}: holds {x.shape[1]} values a line in [0, {x.max()}]; expected 784 values 0/1")
    return x


def fixed_mnist_dataset(root: Path, n_valid: int, n_test: int) -> RawDataset:
    """MNIST's standard fixed binarisation: its train, valid and test files, valid and test cut to n_valid, n_test."""
    x = {s: _read_amat(root / f"binarized_mnist_{s}.amat") for s in SPLITS}
    for split, n in (("valid", n_valid), ("test", n_test)):
        x[split] = first_rows(x[split], n, f"n_{split}", str(root / f"binarized_mnist_{split}.amat"))
    return RawDataset(x, {}, (28, 28), f"fixed binarisation of MNIST, binarized_mnist_*.amat in {root}")


def mnist_dataset(root: Path, n_valid: int, n_test: int, binarisation: str, seed: int) -> RawDataset:
    """MNIST's 28x28 digits: intensities for the stochastic binarisation, or the standard fixed binarisation."""
    if binarisation == "fixed":
        return fixed_mnist_dataset(root, n_valid, n_test)
    train, test = (_official_set(MNIST, root, t, "MNIST") for t in (True, False))
    return _official_splits(train, test, n_valid, n_test, seed, f"torchvision MNIST in {root}", "binary")


def _damaged_batch(folder: Path, train: bool) -> tuple[Path, str] | None:
    """The first batch file of a CIFAR-10 set that torchvision cannot read as a batch, and what is wrong with it."""
    for name, _ in CIFAR10.train_list if train else CIFAR10.test_list:
        path = folder / name
        try:
            with open(path, "rb") as f:
                entry = pickle.load(f, encoding="latin1")  # as torchvision reads it
            data, n_labels = np.asarray(entry["data"]), len(entry["labels"])
        except Exception as err:  # noqa: BLE001 - a damaged pickle raises many types
            return path, f"cannot be read as a CIFAR-10 batch ({err!r})"
        if data.dtype != np.uint8 or data.shape != (n_labels, 3072):
            return (
                path,
                f"holds data {data.dtype} {data.shape} and {n_labels} labels; expected uint8 (n, 3072), n labels",
            )
    return None


def cifar10_set(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """An official CIFAR-10 set, uint8 (n, 32, 32, 3) and labels: from root/cifar-10-batches-py, else downloaded.

    torchvision checks the MD5 sums of what it downloads, not of files already there.
    """
    folder = root / CIFAR10.base_folder
    present = all((folder / name).is_file() for name in CIFAR10_FILES)
    try:
        return _official_set(_PresentCIFAR10 if present else CIFAR10, root, train, "CIFAR-10")
    except DataError as err:
        damaged = _damaged_batch(folder, train) if present else None
        if damaged is None:
            raise
        path, problem = damaged
        raise DataError(
            f"{path}: {problem}; the file is damaged or not CIFAR-10's: delete {folder} to download it again"
        ) from err


def cifar10_dataset(root: Path, n_valid: int, n_test: int, seed: int) -> RawDataset:
    """CIFAR-10's 32x32 colour images, 8-bit."""
    train, test = (cifar10_set(root, t) for t in (True, False))
    return _official_splits(train, test, n_valid, n_test, seed, f"torchvision CIFAR-10 in {root}", "8bit")
