"""What every dataset shares: the splits, the pixel kinds, the error, the raw dataset and the helpers that cut splits.

This module builds on no other module of binlatent.datasets; each source builds on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPLITS = ("train", "valid", "test")
PIXEL_KINDS = ("binary", "8bit")  # intensities in [0, 1] that the data stage binarises; uint8 0..255 kept exactly
DOWNLOADED = ("mnist", "cifar10")  # datasets that torchvision reads from (or downloads into) the data_path directory


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the array and the problem."""


@dataclass
class RawDataset:
    """Images per split flattened to (n, D) in HWC order, labels where known.

    pixels "binary": intensities in [0, 1], image_shape (H, W); "8bit": uint8 0..255, image_shape (H, W, C).
    `blocks`, where images are cut from shared regions (patches), gives each image's region: the clusters of its
    correlated images, for clustered standard errors.
    """

    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    image_shape: tuple[int, ...] = (28, 28)
    source: str = ""
    pixels: str = "binary"
    blocks: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pixels not in PIXEL_KINDS:
            raise ValueError(f"pixels must be one of {PIXEL_KINDS}, got {self.pixels!r}")


def why_8bit(dataset: str, source: str, image_shape: tuple[int, ...], low: int, high: int) -> str:
    """Why images count as 8-bit, and how to give binary images instead, for the data stage's log and for the stages
    that need binary images: uint8 images (N, *image_shape) with values low..high from `source`."""
    shape = ", ".join(str(n) for n in image_shape)
    if dataset != "file":
        return f"dataset '{dataset}' gives 8-bit images ({source}: uint8 (N, {shape}), values {low}..{high})"
    grey = "x[..., 0]" if image_shape[-1] == 1 else "x.mean(axis=-1)"
    return (
        f"{source} holds uint8 arrays of images (N, {shape}) with values {low}..{high}, and a 4-D uint8 array "
        f"(N, H, W, C) counts as 8-bit images; to give binary images instead, store each x_ array as floats in [0, 1] "
        f"shaped (N, H, W) or (N, D), e.g. {grey} / 255.0 (intensities, which the data stage binarises), or as 0/1, "
        f"e.g. ({grey} > 127).astype(np.float32)"
    )


def split_indices(n: int, n_valid: int, n_test: int, seed: int) -> dict[str, np.ndarray]:
    """A fixed-seed permutation of range(n) cut into train/valid/test index sets."""
    if n_valid + n_test >= n:
        raise DataError(f"data.n_valid + data.n_test = {n_valid + n_test} leaves no training images out of {n}")
    perm = np.random.default_rng(seed).permutation(n)
    return {"test": perm[:n_test], "valid": perm[n_test : n_test + n_valid], "train": perm[n_test + n_valid :]}


def hold_out(n: int, n_valid: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-seed (valid, train) index sets of range(n), n_valid of them for validation; `what` names the images."""
    if n_valid >= n:
        raise DataError(f"{what} has {n} images, too few to hold out data.n_valid = {n_valid}")
    perm = np.random.default_rng(seed).permutation(n)
    return perm[:n_valid], perm[n_valid:]


def first_rows(x: np.ndarray, n: int, key: str, what: str) -> np.ndarray:
    """The first n rows of x, where config key data.<key> = n asks for them; `what` names the images."""
    if n > len(x):
        raise DataError(f"{what} has {len(x)} images, fewer than data.{key} = {n}; lower data.{key}")
    return x[:n]


def official_set(reader: type, root: Path, train: bool, name: str) -> tuple[np.ndarray, np.ndarray]:
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


def official_splits(
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


def binarise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sample each pixel from Bernoulli(intensity); exact 0/1 inputs come back unchanged."""
    return (rng.random(x.shape) < x).astype(np.uint8)
